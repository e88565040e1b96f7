import { ImageError } from '../errors.js';
import { MAX_SNAPSHOT_EXTRA_DATA, MAX_SNAPSHOT_TABLE_BYTES } from './constants.js';

/** One internal snapshot as stored in the snapshot table. */
export interface SnapshotEntry {
  l1TableOffset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSeconds: number;
  dateNanoseconds: number;
  vmClockNs: number;
  /** 32-bit VM state size of the fixed part (the 64-bit one lives in the extra data). */
  vmStateSize: number;
  /** Virtual disk size when the snapshot was taken (from the extra data; null when absent). */
  diskSize: number | null;
  /** Instruction count (-1 when off), from the extra data; null when absent. */
  icount: number | null;
  /** Extra data beyond the 24 bytes this implementation knows, kept on rewrite. */
  unknownExtra: Uint8Array;
}

const FIXED = 40;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function corrupt(message: string, path: string): never {
  throw new ImageError('corrupt', message, { path });
}

/** Bytes the table needs for `count` entries starting at a given cluster-aligned offset; checks bounds while parsing. */
export function parseSnapshotTable(
  raw: Uint8Array,
  count: number,
  version: 2 | 3,
  path: string,
): SnapshotEntry[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const entries: SnapshotEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + FIXED > raw.length) corrupt('Snapshot table runs past its end', path);
    const l1TableOffset = Number(view.getBigUint64(at));
    const l1Size = view.getUint32(at + 8);
    const idLength = view.getUint16(at + 12);
    const nameLength = view.getUint16(at + 14);
    const dateSeconds = view.getUint32(at + 16);
    const dateNanoseconds = view.getUint32(at + 20);
    const vmClockNs = Number(view.getBigUint64(at + 24));
    const vmStateSize = view.getUint32(at + 32);
    const extraSize = view.getUint32(at + 36);
    if (extraSize > MAX_SNAPSHOT_EXTRA_DATA) {
      throw new ImageError('too-large', 'Too much extra metadata in snapshot table entry', { path });
    }
    if (version === 3 && extraSize < 16) corrupt('Snapshot table entry is missing the v3 extra data', path);
    at += FIXED;
    if (at + extraSize + idLength + nameLength > raw.length)
      corrupt('Snapshot table runs past its end', path);
    const extra = raw.subarray(at, at + extraSize);
    const ev = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
    const diskSize = extraSize >= 16 ? Number(ev.getBigUint64(8)) : null;
    const icount = extraSize >= 24 ? Number(ev.getBigInt64(16)) : null;
    at += extraSize;
    const id = decoder.decode(raw.subarray(at, at + idLength));
    at += idLength;
    const name = decoder.decode(raw.subarray(at, at + nameLength));
    at += nameLength;
    at = (at + 7) & ~7;
    entries.push({
      l1TableOffset,
      l1Size,
      id,
      name,
      dateSeconds,
      dateNanoseconds,
      vmClockNs,
      vmStateSize,
      diskSize,
      icount,
      unknownExtra: extraSize > 24 ? Uint8Array.from(extra.subarray(24)) : new Uint8Array(0),
    });
  }
  return entries;
}

/** Serialises a snapshot table (extra data: 24 bytes plus any kept unknown bytes). */
export function serializeSnapshotTable(entries: SnapshotEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const e of entries) {
    const id = encoder.encode(e.id);
    const name = encoder.encode(e.name);
    const extraSize = 24 + e.unknownExtra.length;
    const length = (FIXED + extraSize + id.length + name.length + 7) & ~7;
    const out = new Uint8Array(length);
    const v = new DataView(out.buffer);
    v.setBigUint64(0, BigInt(e.l1TableOffset));
    v.setUint32(8, e.l1Size);
    v.setUint16(12, id.length);
    v.setUint16(14, name.length);
    v.setUint32(16, e.dateSeconds);
    v.setUint32(20, e.dateNanoseconds);
    v.setBigUint64(24, BigInt(e.vmClockNs));
    v.setUint32(32, e.vmStateSize);
    v.setUint32(36, extraSize);
    v.setBigUint64(40, BigInt(e.vmStateSize));
    v.setBigUint64(48, BigInt(e.diskSize ?? 0));
    v.setBigInt64(56, BigInt(e.icount ?? -1));
    out.set(e.unknownExtra, 64);
    out.set(id, 64 + e.unknownExtra.length);
    out.set(name, 64 + e.unknownExtra.length + id.length);
    parts.push(out);
    total += length;
  }
  if (total > MAX_SNAPSHOT_TABLE_BYTES) throw new ImageError('too-large', 'Snapshot table too large');
  const table = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    table.set(p, at);
    at += p.length;
  }
  return table;
}
