import { ImageError } from '../errors.js';
import { MAX_BITMAPS } from './constants.js';

/** Bitmap directory entry flags (qcow2 spec, "Bitmap directory"). */
export const BME_FLAG_IN_USE = 1 << 0;
export const BME_FLAG_AUTO = 1 << 1;
export const BME_FLAG_EXTRA_DATA_COMPATIBLE = 1 << 2;
const BME_RESERVED_FLAGS = ~0b111 >>> 0;

/** The only bitmap type the format defines: dirty tracking. */
export const BITMAP_TYPE_DIRTY_TRACKING = 1;
/** Granularity bits QEMU accepts (512 B .. 2 GiB). */
export const MIN_GRANULARITY_BITS = 9;
export const MAX_GRANULARITY_BITS = 31;
/** Longest bitmap name QEMU accepts, in bytes. */
export const MAX_BITMAP_NAME_BYTES = 1023;
/** QEMU's caps on one bitmap's table (entries) and on the data it describes (bytes). */
export const MAX_BITMAP_TABLE_ENTRIES = 0x8000000;
export const MAX_BITMAP_DATA_BYTES = 0x20000000;

/** Bits of a bitmap table entry: the data cluster offset, "all ones", and what must be zero. */
export const BME_TABLE_OFFSET_MASK = 0x00fffffffffffe00n;
export const BME_TABLE_ALL_ONES = 1n;
const BME_TABLE_RESERVED_MASK = 0xff000000000001fen;

const ENTRY_FIXED_BYTES = 24;

/** One entry of the bitmap directory, as stored. */
export interface BitmapDirectoryEntry {
  name: string;
  tableOffset: number;
  /** Number of 8-byte entries in the bitmap table. */
  tableSize: number;
  flags: number;
  type: number;
  granularityBits: number;
  /** Type-specific extra data, kept verbatim (none is defined today). */
  extraData: Uint8Array;
}

/** What a directory must agree with: the image geometry it describes. */
export interface BitmapDirectoryContext {
  clusterSize: number;
  /** The guest-visible disk size each bitmap covers. */
  virtualSize: number;
  /** Host file size: every table must lie inside it. */
  fileSize: number;
}

const encoder = new TextEncoder();
// fatal: names must be valid UTF-8; ignoreBOM: a leading U+FEFF is part of the name and must survive a rewrite.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function corrupt(message: string): never {
  throw new ImageError('corrupt', message);
}

/** Bytes of serialised bitmap data needed for `virtualSize` at `granularity`. */
export function bitmapDataBytes(virtualSize: number, granularityBits: number): number {
  return Math.ceil(Math.ceil(virtualSize / 2 ** granularityBits) / 8);
}

/** Entries of the bitmap table QEMU writes for a bitmap over `virtualSize`. */
export function bitmapTableEntries(
  virtualSize: number,
  granularityBits: number,
  clusterSize: number,
): number {
  return Math.ceil(bitmapDataBytes(virtualSize, granularityBits) / clusterSize);
}

/** On-disk size of one directory entry, padded to 8 bytes. */
export function directoryEntryBytes(entry: Pick<BitmapDirectoryEntry, 'name' | 'extraData'>): number {
  return align8(ENTRY_FIXED_BYTES + entry.extraData.length + encoder.encode(entry.name).length);
}

/** Checks a name QEMU would accept for a persistent bitmap (1..1023 bytes of UTF-8). */
export function checkBitmapName(name: string): void {
  const bytes = encoder.encode(name).length;
  if (bytes === 0) throw new ImageError('invalid-argument', 'Bitmap name must not be empty');
  if (bytes > MAX_BITMAP_NAME_BYTES) {
    throw new ImageError('invalid-argument', `Bitmap name is longer than ${MAX_BITMAP_NAME_BYTES} bytes`);
  }
}

/**
 * Parses and validates a bitmap directory of `count` entries. Every field is checked
 * (sizes, name, type, granularity, flags, table placement and size against the disk) so
 * that a hostile directory gives a typed error before anything is allocated from it.
 */
export function parseBitmapDirectory(
  bytes: Uint8Array,
  count: number,
  context: BitmapDirectoryContext,
): BitmapDirectoryEntry[] {
  if (count < 1 || count > MAX_BITMAPS) corrupt(`Invalid number of bitmaps: ${count}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: BitmapDirectoryEntry[] = [];
  const names = new Set<string>();
  let at = 0;
  while (at < bytes.length) {
    if (entries.length === count) corrupt('More bitmaps found than specified in header extension');
    if (bytes.length - at < ENTRY_FIXED_BYTES) corrupt('Broken bitmap directory: truncated entry');
    const tableOffset = view.getBigUint64(at);
    const tableSize = view.getUint32(at + 8);
    const flags = view.getUint32(at + 12);
    const type = view.getUint8(at + 16);
    const granularityBits = view.getUint8(at + 17);
    const nameSize = view.getUint16(at + 18);
    const extraSize = view.getUint32(at + 20);
    const size = align8(ENTRY_FIXED_BYTES + extraSize + nameSize);
    if (size > bytes.length - at) corrupt('Broken bitmap directory: entry runs past the directory');
    const extraData = bytes.slice(at + ENTRY_FIXED_BYTES, at + ENTRY_FIXED_BYTES + extraSize);
    const nameBytes = bytes.subarray(
      at + ENTRY_FIXED_BYTES + extraSize,
      at + ENTRY_FIXED_BYTES + extraSize + nameSize,
    );
    for (let p = at + ENTRY_FIXED_BYTES + extraSize + nameSize; p < at + size; p++) {
      if (bytes[p] !== 0) corrupt('Broken bitmap directory: non-zero entry padding');
    }
    let name: string;
    try {
      name = decoder.decode(nameBytes);
    } catch (cause) {
      throw new ImageError('corrupt', 'Bitmap name is not valid UTF-8', { cause });
    }
    const entry: BitmapDirectoryEntry = {
      name,
      tableOffset: safeNumber(tableOffset, name),
      tableSize,
      flags,
      type,
      granularityBits,
      extraData,
    };
    checkEntry(entry, nameSize, context);
    if (names.has(name)) corrupt(`Bitmap name '${name}' is used twice`);
    names.add(name);
    entries.push(entry);
    at += size;
  }
  if (entries.length !== count) corrupt('Less bitmaps found than specified in header extension');
  return entries;
}

function checkEntry(entry: BitmapDirectoryEntry, nameSize: number, context: BitmapDirectoryContext): void {
  const bad = (why: string): never =>
    corrupt(`Bitmap '${entry.name}' doesn't satisfy the constraints: ${why}`);
  if (nameSize === 0) bad('empty name');
  if (nameSize > MAX_BITMAP_NAME_BYTES) bad('name too long');
  if (entry.type !== BITMAP_TYPE_DIRTY_TRACKING) bad(`unknown type ${entry.type}`);
  if (entry.granularityBits < MIN_GRANULARITY_BITS || entry.granularityBits > MAX_GRANULARITY_BITS) {
    bad(`granularity bits ${entry.granularityBits} outside ${MIN_GRANULARITY_BITS}..${MAX_GRANULARITY_BITS}`);
  }
  if ((entry.flags & BME_RESERVED_FLAGS) !== 0) bad('reserved flags are set');
  if (entry.tableSize === 0 || entry.tableSize > MAX_BITMAP_TABLE_ENTRIES) bad('invalid table size');
  if (entry.tableSize * context.clusterSize > MAX_BITMAP_DATA_BYTES) bad('bitmap data too large');
  if (entry.tableOffset === 0 || entry.tableOffset % context.clusterSize !== 0)
    bad('table not cluster aligned');
  if (entry.tableOffset + entry.tableSize * 8 > context.fileSize) bad('table lies past the end of the file');
  // A bitmap that was stored cleanly must cover the whole disk. One left in use may be
  // stale in any way; it is still accepted, so that it can be removed.
  const needed = bitmapTableEntries(context.virtualSize, entry.granularityBits, context.clusterSize);
  if ((entry.flags & BME_FLAG_IN_USE) === 0 && entry.tableSize < needed) bad('table too small for the disk');
}

/** Serialises directory entries (names and extra data verbatim, each padded to 8 bytes). */
export function serializeBitmapDirectory(entries: readonly BitmapDirectoryEntry[]): Uint8Array {
  const out = new Uint8Array(entries.reduce((sum, e) => sum + directoryEntryBytes(e), 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    view.setBigUint64(at, BigInt(entry.tableOffset));
    view.setUint32(at + 8, entry.tableSize);
    view.setUint32(at + 12, entry.flags);
    view.setUint8(at + 16, entry.type);
    view.setUint8(at + 17, entry.granularityBits);
    view.setUint16(at + 18, name.length);
    view.setUint32(at + 20, entry.extraData.length);
    out.set(entry.extraData, at + ENTRY_FIXED_BYTES);
    out.set(name, at + ENTRY_FIXED_BYTES + entry.extraData.length);
    at += directoryEntryBytes(entry);
  }
  return out;
}

/** A decoded bitmap table entry. */
export type BitmapTableEntry = { kind: 'zeros' } | { kind: 'ones' } | { kind: 'data'; offset: number };

/** Decodes one bitmap table entry, or returns an error message for an invalid one. */
export function decodeBitmapTableEntry(raw: bigint, clusterSize: number): BitmapTableEntry | string {
  if ((raw & BME_TABLE_RESERVED_MASK) !== 0n)
    return `reserved bits set in bitmap table entry 0x${raw.toString(16)}`;
  const offset = Number(raw & BME_TABLE_OFFSET_MASK);
  if (offset === 0) return (raw & BME_TABLE_ALL_ONES) !== 0n ? { kind: 'ones' } : { kind: 'zeros' };
  if ((raw & BME_TABLE_ALL_ONES) !== 0n)
    return `bitmap table entry 0x${raw.toString(16)} has an offset and the all-ones bit`;
  if (offset % clusterSize !== 0)
    return `bitmap data cluster 0x${offset.toString(16)} is not cluster aligned`;
  return { kind: 'data', offset };
}

function safeNumber(value: bigint, name: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) corrupt(`Bitmap '${name}' table offset is out of range`);
  return Number(value);
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
