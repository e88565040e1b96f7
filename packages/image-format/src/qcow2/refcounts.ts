import { ImageError } from '../errors.js';
import type { ImageFile } from '../image-file.js';
import { MAX_REFTABLE_BYTES } from './constants.js';
import { type CachedTable, TableCache } from './table-cache.js';

/** QEMU's default refcount block cache: four clusters. */
export const REFCOUNT_CACHE_TABLES = 4;

/** Called after the refcount table moved, to point the header at it (synchronously durable). */
export type RefcountTableMovedHook = (offset: number, clusters: number) => Promise<void>;

/**
 * The refcount table and its blocks: reading and changing reference counts, allocating
 * clusters, and growing the table. Refcount increases may be written at any time (a leaked
 * cluster is harmless); decreases are queued by callers that still have metadata on disk
 * pointing at the cluster, and applied after that metadata is written ({@link applyPendingFrees}).
 */
export class Refcounts {
  readonly cache: TableCache;
  readonly clusterSize: number;
  /** Refcount entries per refcount block, as a power of two. */
  readonly blockBits: number;
  readonly maxRefcount: number;
  /** Lowest cluster index that may be free. */
  private freeClusterIndex = 0;
  /** One past the highest cluster index that may be in use (at least the file end). */
  private highWater: number;
  /** Where the next compressed cluster may be packed; 0 when a fresh cluster is needed. */
  private freeByteOffset = 0;
  private pendingFrees: number[] = [];
  /** Offsets of refcount blocks, for overlap checks (rebuilt when the table changed). */
  private blockOffsets: Set<number> | null = null;
  /** Called when a cluster's refcount reaches zero, so callers can drop cached copies. */
  onFreed: (offset: number) => void = () => {};

  constructor(
    private readonly file: ImageFile,
    readonly clusterBits: number,
    readonly refcountOrder: number,
    /** Block offsets, one per refcount table entry (0 = no block). */
    public table: number[],
    public tableOffset: number,
    public tableClusters: number,
    fileSize: number,
    private readonly onTableMoved: RefcountTableMovedHook,
  ) {
    this.clusterSize = 2 ** clusterBits;
    this.blockBits = clusterBits + 3 - refcountOrder;
    this.maxRefcount = refcountOrder === 6 ? Number.MAX_SAFE_INTEGER : 2 ** (2 ** refcountOrder) - 1;
    this.cache = new TableCache(file, this.clusterSize, REFCOUNT_CACHE_TABLES, 'Refcount block');
    this.highWater = Math.ceil(fileSize / this.clusterSize);
  }

  /** Loads the refcount table; every block offset is checked (aligned, inside the file). */
  static async load(
    file: ImageFile,
    clusterBits: number,
    refcountOrder: number,
    tableOffset: number,
    tableClusters: number,
    fileSize: number,
    onTableMoved: RefcountTableMovedHook,
  ): Promise<Refcounts> {
    const clusterSize = 2 ** clusterBits;
    const raw = new Uint8Array(tableClusters * clusterSize);
    if ((await file.read(raw, tableOffset)) < raw.length) {
      throw new ImageError('corrupt', 'Reference count table lies past the end of the file', {
        path: file.path,
      });
    }
    const view = new DataView(raw.buffer);
    const table: number[] = new Array(raw.length / 8);
    for (let i = 0; i < table.length; i++) {
      const hi = view.getUint32(i * 8);
      const lo = view.getUint32(i * 8 + 4);
      const offset = hi * 0x1_0000_0000 + (lo & 0xfffffe00);
      if (
        (lo & 0x1ff) !== 0 ||
        offset % clusterSize !== 0 ||
        offset + clusterSize > fileSize ||
        (offset === 0 && hi !== 0)
      ) {
        throw new ImageError(
          'corrupt',
          `Refcount block ${i} has an invalid offset 0x${offset.toString(16)}`,
          {
            path: file.path,
          },
        );
      }
      table[i] = offset;
    }
    return new Refcounts(
      file,
      clusterBits,
      refcountOrder,
      table,
      tableOffset,
      tableClusters,
      fileSize,
      onTableMoved,
    );
  }

  /** Whether a refcount block lives at host offset `offset`. */
  isBlockOffset(offset: number): boolean {
    if (!this.blockOffsets) this.blockOffsets = new Set(this.table.filter((o) => o !== 0));
    return this.blockOffsets.has(offset);
  }

  /** Refcount of the host cluster with index `cluster` (0 when no block covers it). */
  async get(cluster: number): Promise<number> {
    const block = await this.block(Math.floor(cluster / 2 ** this.blockBits), false);
    return block ? this.entry(block, cluster % 2 ** this.blockBits) : 0;
  }

  /** Sets a refcount, creating the refcount block when needed. */
  async set(cluster: number, value: number): Promise<void> {
    if (value > this.maxRefcount || value < 0) {
      throw new ImageError(
        'invalid-argument',
        `Refcount ${value} does not fit in ${2 ** this.refcountOrder} bits`,
      );
    }
    const block = await this.block(Math.floor(cluster / 2 ** this.blockBits), true);
    if (!block) throw new Error('unreachable: block creation returned nothing');
    this.setEntry(block, cluster % 2 ** this.blockBits, value);
    this.cache.markDirty(block);
    if (value === 0) {
      if (cluster < this.freeClusterIndex) this.freeClusterIndex = cluster;
      this.onFreed(cluster * this.clusterSize);
    } else if (cluster >= this.highWater) {
      this.highWater = cluster + 1;
    }
  }

  /** Adds `delta` to a refcount; under- or overflow means the metadata is inconsistent. */
  async adjust(cluster: number, delta: number): Promise<number> {
    const now = (await this.get(cluster)) + delta;
    if (now < 0) {
      throw new ImageError('corrupt', `Refcount of cluster ${cluster} would drop below zero`, {
        path: this.file.path,
      });
    }
    if (now > this.maxRefcount) {
      throw new ImageError(
        'invalid-argument',
        `Refcount of cluster ${cluster} would overflow ${2 ** this.refcountOrder} bits`,
        {
          path: this.file.path,
        },
      );
    }
    await this.set(cluster, now);
    return now;
  }

  /** Adds `delta` to every cluster touched by the byte range [offset, offset+length). */
  async adjustRange(offset: number, length: number, delta: number): Promise<void> {
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.floor((offset + length - 1) / this.clusterSize);
    for (let c = first; c <= last; c++) await this.adjust(c, delta);
  }

  /**
   * Allocates `count` contiguous free clusters with refcount 1 and returns the host offset of
   * the first. Refcount blocks needed to count them are created first.
   */
  async allocate(count: number): Promise<number> {
    for (;;) {
      const start = await this.findFree(count, this.freeClusterIndex);
      let created = false;
      const firstBlock = Math.floor(start / 2 ** this.blockBits);
      const lastBlock = Math.floor((start + count - 1) / 2 ** this.blockBits);
      for (let b = firstBlock; b <= lastBlock; b++) {
        if (b >= this.table.length || this.table[b] === 0) {
          // Look for the block's place past the chosen run (as QEMU does), then search again.
          await this.block(b, true, start + count);
          created = true;
        }
      }
      // A new refcount block may have taken a cluster of the chosen run: search again.
      if (created) continue;
      // One block lookup per refcount block, not per cluster.
      const perBlock = 2 ** this.blockBits;
      for (let c = start; c < start + count; ) {
        const block = (await this.block(Math.floor(c / perBlock), false)) as CachedTable;
        const blockEnd = Math.min(start + count, (Math.floor(c / perBlock) + 1) * perBlock);
        for (; c < blockEnd; c++) this.setEntry(block, c % perBlock, 1);
        this.cache.markDirty(block);
      }
      if (start + count > this.highWater) this.highWater = start + count;
      // As QEMU's free_cluster_index: the next search starts past this run, even when the run
      // skipped a hole that was too small for it (a later free lowers it again).
      this.freeClusterIndex = start + count;
      return start * this.clusterSize;
    }
  }

  /**
   * Allocates `size` bytes (less than a cluster) for compressed data, packing consecutive
   * allocations into one host cluster. Each allocation takes one reference on the cluster.
   */
  async allocateBytes(size: number): Promise<number> {
    if (this.freeByteOffset !== 0) {
      const cluster = Math.floor(this.freeByteOffset / this.clusterSize);
      const room = this.clusterSize - (this.freeByteOffset % this.clusterSize);
      const refcount = await this.get(cluster);
      if (room >= size && refcount > 0 && refcount < this.maxRefcount) {
        const offset = this.freeByteOffset;
        await this.adjust(cluster, 1);
        this.advanceFreeByte(offset + size);
        return offset;
      }
    }
    const offset = await this.allocate(1);
    this.advanceFreeByte(offset + size);
    return offset;
  }

  private advanceFreeByte(next: number): void {
    this.freeByteOffset = next % this.clusterSize === 0 ? 0 : next;
  }

  /**
   * Queues one reference drop on each cluster of [offset, offset+length), to be applied by
   * {@link applyPendingFrees} once no on-disk metadata points at them any more.
   */
  queueFree(offset: number, length: number): void {
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.floor((offset + length - 1) / this.clusterSize);
    for (let c = first; c <= last; c++) this.pendingFrees.push(c);
  }

  get hasPendingFrees(): boolean {
    return this.pendingFrees.length > 0;
  }

  /** Applies queued reference drops (call after the L2/L1 changes that dropped them are on disk). */
  async applyPendingFrees(): Promise<void> {
    const frees = this.pendingFrees;
    this.pendingFrees = [];
    for (const c of frees) await this.adjust(c, -1);
  }

  /** Writes dirty refcount blocks. */
  async writeBack(): Promise<void> {
    await this.cache.writeBack();
  }

  /** One past the highest cluster that may be in use. */
  get clusterEnd(): number {
    return this.highWater;
  }

  /**
   * Index of the last host cluster with a non-zero refcount among the first `clusters`
   * (-1 when none is in use), scanning down from the end as QEMU does before it cuts the
   * tail off a shrunk image.
   */
  async lastInUse(clusters: number): Promise<number> {
    for (let c = clusters - 1; c >= 0; c--) {
      if ((await this.get(c)) > 0) return c;
    }
    return -1;
  }

  /** Records that the file now ends after `clusters` clusters (after truncating its free tail). */
  fileTruncated(clusters: number): void {
    this.highWater = Math.max(clusters, 0);
    if (this.freeClusterIndex > clusters) this.freeClusterIndex = clusters;
    if (this.freeByteOffset >= clusters * this.clusterSize) this.freeByteOffset = 0;
  }

  /** Forgets the free-space hints (after an external change such as a repair). */
  resetHints(): void {
    this.freeClusterIndex = 0;
    this.freeByteOffset = 0;
  }

  /** First run of `count` free clusters at or after `from` (clusters past the table count as free). */
  async findFree(count: number, from: number): Promise<number> {
    const perBlock = 2 ** this.blockBits;
    let start = Math.max(from, 1);
    let run = 0;
    let c = start;
    for (;;) {
      const b = Math.floor(c / perBlock);
      const block = await this.block(b, false);
      if (!block) {
        // No block: every cluster of its range is free.
        const blockEnd = (b + 1) * perBlock;
        if (run === 0) start = c;
        run += blockEnd - c;
        if (run >= count) return start;
        c = blockEnd;
        continue;
      }
      const end = (b + 1) * perBlock;
      for (; c < end; c++) {
        if (this.entry(block, c % perBlock) === 0) {
          if (run === 0) start = c;
          run++;
          if (run >= count) return start;
        } else {
          run = 0;
        }
      }
    }
  }

  /** The refcount block for block index `b`, creating it (and growing the table) when asked. */
  private async block(b: number, create: boolean, hint?: number): Promise<CachedTable | null> {
    if (b < this.table.length) {
      const offset = this.table[b] as number;
      if (offset !== 0) return this.cache.get(offset);
    }
    if (!create) return null;
    if (b >= this.table.length) {
      await this.growTable(b + 1);
      return this.block(b, true, hint);
    }
    const perBlock = 2 ** this.blockBits;
    for (;;) {
      // Creating another block (or growing the table) may have created this one meanwhile.
      const existing = this.table[b] as number;
      if (existing !== 0) return this.cache.get(existing);
      const c = await this.findFree(1, Math.max(hint ?? 0, this.freeClusterIndex));
      const cb = Math.floor(c / perBlock);
      if (cb === b) {
        // The new block lies in the range it describes: it counts itself.
        const table = this.cache.create(c * this.clusterSize);
        this.setEntry(table, c % perBlock, 1);
        await this.hookUp(b, table);
        if (c >= this.highWater) this.highWater = c + 1;
        return table;
      }
      if (cb >= this.table.length || this.table[cb] === 0) {
        // The cluster's own range has no block yet: create that one just past it, then look again.
        await this.block(cb, true, c + 1);
        continue;
      }
      await this.set(c, 1);
      const table = this.cache.create(c * this.clusterSize);
      await this.hookUp(b, table);
      return table;
    }
  }

  /** Writes a new block and then the table entry that points at it, with a barrier between. */
  private async hookUp(b: number, table: CachedTable): Promise<void> {
    await this.cache.writeBack();
    await this.file.flush();
    this.table[b] = table.offset;
    this.blockOffsets = null;
    const entry = new Uint8Array(8);
    new DataView(entry.buffer).setBigUint64(0, BigInt(table.offset));
    await this.file.write(entry, this.tableOffset + b * 8);
    await this.file.flush();
  }

  /**
   * Moves the refcount table to a bigger one placed past every used cluster, together with
   * any new refcount blocks needed to count the table itself, then switches the header.
   */
  private async growTable(minEntries: number): Promise<void> {
    const perBlock = 2 ** this.blockBits;
    const entriesPerCluster = this.clusterSize / 8;
    let entries = Math.max(minEntries, Math.ceil((this.table.length * 3) / 2));
    for (;;) {
      const tableClusters = Math.ceil(entries / entriesPerCluster);
      if (tableClusters * this.clusterSize > MAX_REFTABLE_BYTES) {
        throw new ImageError('too-large', 'Reference count table would exceed the maximum size', {
          path: this.file.path,
        });
      }
      entries = tableClusters * entriesPerCluster;
      let start = Math.max(this.highWater, 1);
      start = await this.findFree(tableClusters, start);
      const newTable = this.table.slice();
      while (newTable.length < entries) newTable.push(0);
      const newBlocks = new Map<number, number>();
      const toCount: number[] = [];
      for (let c = start; c < start + tableClusters; c++) toCount.push(c);
      let next = start + tableClusters;
      let fits = true;
      for (let i = 0; i < toCount.length; i++) {
        const b = Math.floor((toCount[i] as number) / perBlock);
        if (b >= entries) {
          fits = false;
          break;
        }
        if (newTable[b] === 0 && !newBlocks.has(b)) {
          newBlocks.set(b, next);
          toCount.push(next);
          next++;
        }
      }
      if (!fits) {
        entries = Math.ceil((next + perBlock) / perBlock) + entries;
        continue;
      }
      for (const [b, c] of newBlocks) {
        this.cache.create(c * this.clusterSize);
        newTable[b] = c * this.clusterSize;
      }
      for (const c of toCount) {
        const b = Math.floor(c / perBlock);
        const block = newBlocks.has(b)
          ? (this.cache.peek((newBlocks.get(b) as number) * this.clusterSize) as CachedTable)
          : await this.cache.get(newTable[b] as number);
        this.setEntry(block, c % perBlock, this.entry(block, c % perBlock) + 1);
        this.cache.markDirty(block);
      }
      // Blocks first, then the table, then the header: a crash in between only leaks.
      await this.cache.writeBack();
      const raw = new Uint8Array(tableClusters * this.clusterSize);
      const view = new DataView(raw.buffer);
      for (let i = 0; i < newTable.length; i++) view.setBigUint64(i * 8, BigInt(newTable[i] as number));
      await this.file.write(raw, start * this.clusterSize);
      await this.file.flush();
      const oldOffset = this.tableOffset;
      const oldClusters = this.tableClusters;
      this.table = newTable;
      this.blockOffsets = null;
      this.tableOffset = start * this.clusterSize;
      this.tableClusters = tableClusters;
      if (next > this.highWater) this.highWater = next;
      await this.onTableMoved(this.tableOffset, tableClusters);
      for (let c = 0; c < oldClusters; c++) await this.adjust(oldOffset / this.clusterSize + c, -1);
      return;
    }
  }

  /** The refcount at `index` of a block, for every refcount width. */
  entry(block: CachedTable, index: number): number {
    switch (this.refcountOrder) {
      case 3:
        return block.data[index] as number;
      case 4:
        return block.view.getUint16(index * 2);
      case 5:
        return block.view.getUint32(index * 4);
      case 6:
        return Number(block.view.getBigUint64(index * 8));
      default: {
        // Narrower than a byte: packed from the least significant bit upward.
        const bits = 2 ** this.refcountOrder;
        const perByte = 8 / bits;
        const byte = block.data[Math.floor(index / perByte)] as number;
        return (byte >> ((index % perByte) * bits)) & ((1 << bits) - 1);
      }
    }
  }

  private setEntry(block: CachedTable, index: number, value: number): void {
    switch (this.refcountOrder) {
      case 3:
        block.data[index] = value;
        return;
      case 4:
        block.view.setUint16(index * 2, value);
        return;
      case 5:
        block.view.setUint32(index * 4, value);
        return;
      case 6:
        block.view.setBigUint64(index * 8, BigInt(value));
        return;
      default: {
        const bits = 2 ** this.refcountOrder;
        const perByte = 8 / bits;
        const at = Math.floor(index / perByte);
        const shift = (index % perByte) * bits;
        const mask = ((1 << bits) - 1) << shift;
        block.data[at] = ((block.data[at] as number) & ~mask) | ((value << shift) & mask);
      }
    }
  }
}
