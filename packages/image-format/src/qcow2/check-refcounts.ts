import type { ImageFile } from '../image-file.js';
import { REFT_OFFSET_MASK } from './constants.js';

/** Low bits of a refcount table entry that must be zero. */
export const REFT_RESERVED_MASK = 0x1ffn;

/**
 * The refcounts as stored in the image, read through the refcount table for check and
 * written back by repair. Kept apart from the writer's own refcount cache on purpose:
 * check must see exactly what is on disk, and must work on images the writer refuses.
 */
export class StoredRefcounts {
  /** Refcount table entries as stored (offset plus possibly reserved bits). */
  readonly table: bigint[];
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly entriesPerBlock: number;
  private readonly entryBits: number;
  readonly maxRefcount: bigint;

  private constructor(
    private readonly file: ImageFile,
    private readonly clusterBits: number,
    refcountOrder: number,
    table: bigint[],
  ) {
    this.table = table;
    this.entryBits = 1 << refcountOrder;
    this.entriesPerBlock = ((1 << clusterBits) * 8) / this.entryBits;
    this.maxRefcount = (1n << BigInt(this.entryBits)) - 1n;
  }

  /** Reads `entries` refcount table entries at `offset` (short reads past EOF give zeros). */
  static async load(
    file: ImageFile,
    clusterBits: number,
    refcountOrder: number,
    offset: number,
    entries: number,
  ): Promise<StoredRefcounts> {
    const bytes = new Uint8Array(entries * 8);
    await file.read(bytes, offset);
    const view = new DataView(bytes.buffer);
    const table: bigint[] = new Array(entries);
    for (let i = 0; i < entries; i++) table[i] = view.getBigUint64(i * 8);
    return new StoredRefcounts(file, clusterBits, refcountOrder, table);
  }

  /**
   * Host offset of the refcount block for table index `index`: 0 when there is none, -1 when
   * the entry cannot be used (its offset is not cluster aligned). Reserved low bits are
   * masked off first, as QEMU does when it reads refcounts.
   */
  blockOffset(index: number): number {
    const entry = this.table[index];
    if (entry === undefined) return 0;
    const offset = Number(entry & REFT_OFFSET_MASK);
    return offset % (1 << this.clusterBits) === 0 ? offset : -1;
  }

  /** Whether the refcount of `cluster` can be read (its refcount block entry is usable). */
  readable(cluster: number): boolean {
    return this.blockOffset(this.tableIndex(cluster)) >= 0;
  }

  /** Index into the refcount table covering `cluster`. */
  tableIndex(cluster: number): number {
    return Math.floor(cluster / this.entriesPerBlock);
  }

  /** The stored refcount of host cluster `cluster` (0 where no block covers it). */
  async get(cluster: number): Promise<bigint> {
    await this.block(this.tableIndex(cluster));
    return this.getLoaded(cluster);
  }

  /** Loads the refcount block covering `cluster`, so {@link getLoaded} can answer for it. */
  async prepare(cluster: number): Promise<void> {
    await this.block(this.tableIndex(cluster));
  }

  /**
   * Like {@link get}, without I/O: the block must have been loaded by {@link prepare} (or an
   * earlier get). Lets long scans avoid one promise per cluster.
   */
  getLoaded(cluster: number): bigint {
    const block = this.blocks.get(this.tableIndex(cluster));
    if (!block) return 0n;
    return readEntry(block, cluster % this.entriesPerBlock, this.entryBits);
  }

  /** Clusters described by one refcount block. */
  get clustersPerBlock(): number {
    return this.entriesPerBlock;
  }

  /**
   * Stores a new refcount for `cluster` in its existing refcount block. Returns false when
   * no valid block covers the cluster (the caller then cannot repair it in place).
   */
  async set(cluster: number, value: bigint): Promise<boolean> {
    const index = this.tableIndex(cluster);
    const block = await this.block(index);
    if (!block) return false;
    writeEntry(block, cluster % this.entriesPerBlock, this.entryBits, value);
    await this.file.write(block, this.blockOffset(index));
    return true;
  }

  private async block(index: number): Promise<Uint8Array | null> {
    const offset = this.blockOffset(index);
    if (offset <= 0) return null;
    let block = this.blocks.get(index);
    if (!block) {
      block = new Uint8Array(1 << this.clusterBits);
      await this.file.read(block, offset);
      this.blocks.set(index, block);
    }
    return block;
  }
}

/** Reads entry `i` of a refcount block whose entries are `bits` wide (1..64). */
export function readEntry(block: Uint8Array, i: number, bits: number): bigint {
  // The common widths without a per-byte BigInt loop: checks read every refcount.
  if (bits === 16) return BigInt((block[i * 2]! << 8) | block[i * 2 + 1]!);
  if (bits === 8) return BigInt(block[i]!);
  if (bits >= 8) {
    const bytes = bits / 8;
    let value = 0n;
    for (let k = 0; k < bytes; k++) value = (value << 8n) | BigInt(block[i * bytes + k]!);
    return value;
  }
  // Narrow entries are packed from the least significant bit of each byte upward.
  const perByte = 8 / bits;
  const byte = block[Math.floor(i / perByte)]!;
  const shift = (i % perByte) * bits;
  return BigInt((byte >> shift) & ((1 << bits) - 1));
}

/** Writes entry `i` of a refcount block (see {@link readEntry}). */
export function writeEntry(block: Uint8Array, i: number, bits: number, value: bigint): void {
  if (bits >= 8) {
    const bytes = bits / 8;
    let v = value;
    for (let k = bytes - 1; k >= 0; k--) {
      block[i * bytes + k] = Number(v & 0xffn);
      v >>= 8n;
    }
    return;
  }
  const perByte = 8 / bits;
  const at = Math.floor(i / perByte);
  const shift = (i % perByte) * bits;
  const mask = ((1 << bits) - 1) << shift;
  block[at] = (block[at]! & ~mask) | ((Number(value) << shift) & mask);
}
