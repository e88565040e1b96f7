/**
 * Decoding of 64-bit L1/L2 table entries with plain numbers (two 32-bit halves), so the hot
 * path does not allocate bigints.
 */

/** What a guest cluster maps to, from its L2 entry. */
export const ClusterKind = {
  /** Entry 0: defer to the backing file (or zeros). */
  Unallocated: 0,
  /** ZERO flag without a host cluster: reads as zeros, never from the backing file. */
  ZeroPlain: 1,
  /** ZERO flag with a (preallocated) host cluster. */
  ZeroAlloc: 2,
  Normal: 3,
  Compressed: 4,
} as const;
export type ClusterKind = (typeof ClusterKind)[keyof typeof ClusterKind];

const TWO_32 = 0x1_0000_0000;

/** The raw entry at `index` of a table as hi/lo words. */
export function entryHi(view: DataView, index: number): number {
  return view.getUint32(index * 8);
}
export function entryLo(view: DataView, index: number): number {
  return view.getUint32(index * 8 + 4);
}

/** Bits 9..55: the cluster offset of a standard L1/L2 entry. */
export function entryOffset(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * TWO_32 + ((lo & 0xfffffe00) >>> 0);
}

export function isCopied(hi: number): boolean {
  return (hi & 0x80000000) !== 0;
}

export function isCompressedEntry(hi: number): boolean {
  return (hi & 0x40000000) !== 0;
}

export function classify(hi: number, lo: number, v3: boolean): ClusterKind {
  if (hi === 0 && lo === 0) return ClusterKind.Unallocated;
  if (isCompressedEntry(hi)) return ClusterKind.Compressed;
  const offset = entryOffset(hi, lo);
  if (v3 && (lo & 1) !== 0) return offset === 0 ? ClusterKind.ZeroPlain : ClusterKind.ZeroAlloc;
  return offset === 0 ? ClusterKind.Unallocated : ClusterKind.Normal;
}

/** Writes a standard entry: offset, plus COPIED and ZERO flags. */
export function setEntry(
  view: DataView,
  index: number,
  offset: number,
  copied: boolean,
  zero: boolean,
): void {
  const hi = Math.floor(offset / TWO_32) | (copied ? 0x80000000 : 0);
  const lo = (offset % TWO_32) | (zero ? 1 : 0);
  view.setUint32(index * 8, hi >>> 0);
  view.setUint32(index * 8 + 4, lo >>> 0);
}

export function setRawEntry(view: DataView, index: number, hi: number, lo: number): void {
  view.setUint32(index * 8, hi >>> 0);
  view.setUint32(index * 8 + 4, lo >>> 0);
}

/** Where a compressed cluster's bytes are: byte offset and the number of bytes to read. */
export interface CompressedLocation {
  offset: number;
  /** Bytes spanned by the sectors the descriptor names (may run past the data itself). */
  length: number;
}

/** Decodes a compressed-cluster descriptor (bit 62 set) for the given cluster size. */
export function compressedLocation(hi: number, lo: number, clusterBits: number): CompressedLocation {
  const entry = (BigInt(hi) << 32n) | BigInt(lo);
  const x = BigInt(62 - (clusterBits - 8));
  const offset = Number(entry & ((1n << x) - 1n));
  const sectors = Number((entry >> x) & ((1n << (62n - x)) - 1n)) + 1;
  return { offset, length: sectors * 512 - (offset & 511) };
}

/** Builds a compressed descriptor's hi/lo words for data at `offset` of `length` bytes. */
export function compressedEntry(offset: number, length: number, clusterBits: number): [number, number] {
  const x = BigInt(62 - (clusterBits - 8));
  const extraSectors = BigInt(Math.floor((offset + length - 1) / 512) - Math.floor(offset / 512));
  const entry = (1n << 62n) | (extraSectors << x) | BigInt(offset);
  return [Number(entry >> 32n), Number(entry & 0xffffffffn)];
}

/** Host clusters touched by a compressed cluster's data (each holds one reference for it). */
export function compressedClusters(
  loc: CompressedLocation,
  clusterBits: number,
): [first: number, last: number] {
  const first = Math.floor(loc.offset / 2 ** clusterBits);
  const last = Math.floor((loc.offset + loc.length - 1) / 2 ** clusterBits);
  return [first, last];
}
