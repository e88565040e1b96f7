import { ImageError } from '../errors.js';
import type { ImageFile } from '../image-file.js';
import { MAX_SNAPSHOT_EXTRA_DATA, MAX_SNAPSHOT_TABLE_BYTES } from './constants.js';

/** What check needs of one internal snapshot: its names (for messages) and its L1 table. */
export interface CheckedSnapshot {
  id: string;
  name: string;
  l1Offset: number;
  l1Size: number;
}

/** The snapshot table as check sees it: entries plus the bytes the table occupies. */
export interface CheckedSnapshotTable {
  snapshots: CheckedSnapshot[];
  tableBytes: number;
}

const FIXED_BYTES = 40;
const decoder = new TextDecoder();

/**
 * Walks the snapshot table at `offset`. Only the fields check uses are decoded; the walk
 * itself validates every length so a hostile table cannot make it read or allocate
 * without bound.
 */
export async function readSnapshotTableForCheck(
  file: ImageFile,
  offset: number,
  count: number,
  fileSize: number,
): Promise<CheckedSnapshotTable> {
  if (count === 0) return { snapshots: [], tableBytes: 0 };
  const snapshots: CheckedSnapshot[] = [];
  let at = offset;
  const end = Math.min(fileSize, offset + MAX_SNAPSHOT_TABLE_BYTES);
  const fixed = new Uint8Array(FIXED_BYTES);
  const view = new DataView(fixed.buffer);
  for (let i = 0; i < count; i++) {
    if (at + FIXED_BYTES > end)
      throw corrupt('snapshot table runs past the end of the file or its size limit');
    await file.read(fixed, at);
    const l1OffsetBig = view.getBigUint64(0);
    const l1Size = view.getUint32(8);
    const idSize = view.getUint16(12);
    const nameSize = view.getUint16(14);
    const extraSize = view.getUint32(36);
    if (extraSize > MAX_SNAPSHOT_EXTRA_DATA) throw corrupt(`snapshot ${i} has too much extra data`);
    const variable = extraSize + idSize + nameSize;
    if (at + FIXED_BYTES + variable > end) throw corrupt(`snapshot ${i} runs past the snapshot table`);
    const strings = new Uint8Array(idSize + nameSize);
    await file.read(strings, at + FIXED_BYTES + extraSize);
    if (l1OffsetBig > BigInt(Number.MAX_SAFE_INTEGER))
      throw corrupt(`snapshot ${i} L1 offset is out of range`);
    snapshots.push({
      id: decoder.decode(strings.subarray(0, idSize)),
      name: decoder.decode(strings.subarray(idSize)),
      l1Offset: Number(l1OffsetBig),
      l1Size,
    });
    at += Math.ceil((FIXED_BYTES + variable) / 8) * 8;
  }
  return { snapshots, tableBytes: at - offset };
}

function corrupt(what: string): ImageError {
  return new ImageError('corrupt', `Invalid snapshot table: ${what}`);
}
