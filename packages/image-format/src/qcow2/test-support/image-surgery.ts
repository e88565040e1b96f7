import { HostFile } from '../../image-file.js';
import { StoredRefcounts } from '../check-refcounts.js';
import { L1E_OFFSET_MASK, L2E_OFFSET_MASK } from '../constants.js';
import { readHeaderForCheck } from '../check.js';

/** One allocated data cluster of the active L1, and where its L2 entry lives in the file. */
export interface DataClusterRef {
  entry: bigint;
  entryOffset: number;
  hostCluster: number;
}

/** Opens an image file for hand-made damage in tests. */
export async function withImage<T>(path: string, body: (file: HostFile) => Promise<T>): Promise<T> {
  const file = await HostFile.open(path);
  try {
    return await body(file);
  } finally {
    await file.close();
  }
}

async function readU64(file: HostFile, offset: number): Promise<bigint> {
  const bytes = new Uint8Array(8);
  await file.read(bytes, offset);
  return new DataView(bytes.buffer).getBigUint64(0);
}

/** Overwrites one big-endian u64. */
export async function writeU64(file: HostFile, offset: number, value: bigint): Promise<void> {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value);
  await file.write(bytes, offset);
}

/** Every allocated (non-compressed) data cluster reachable from the active L1 table. */
export async function dataClusters(file: HostFile): Promise<DataClusterRef[]> {
  const h = await readHeaderForCheck(file);
  const clusterSize = 1 << h.clusterBits;
  const out: DataClusterRef[] = [];
  for (let i = 0; i < h.l1Size; i++) {
    const l2 = Number((await readU64(file, h.l1TableOffset + i * 8)) & L1E_OFFSET_MASK);
    if (l2 === 0) continue;
    for (let j = 0; j < clusterSize / 8; j++) {
      const entry = await readU64(file, l2 + j * 8);
      const host = Number(entry & L2E_OFFSET_MASK);
      if (host !== 0 && (entry >> 62n) % 2n === 0n) {
        out.push({ entry, entryOffset: l2 + j * 8, hostCluster: host / clusterSize });
      }
    }
  }
  return out;
}

/** Offset of the first active L1 entry that points at an L2 table. */
export async function firstL1EntryOffset(file: HostFile): Promise<number> {
  const h = await readHeaderForCheck(file);
  for (let i = 0; i < h.l1Size; i++) {
    if ((await readU64(file, h.l1TableOffset + i * 8)) !== 0n) return h.l1TableOffset + i * 8;
  }
  throw new Error('image has no L2 table');
}

/** Reads or changes one stored refcount. */
export async function refcounts(file: HostFile): Promise<StoredRefcounts> {
  const h = await readHeaderForCheck(file);
  return StoredRefcounts.load(
    file,
    h.clusterBits,
    h.refcountOrder,
    h.refcountTableOffset,
    (h.refcountTableClusters << h.clusterBits) / 8,
  );
}
