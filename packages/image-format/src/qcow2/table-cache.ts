import { ImageError } from '../errors.js';
import type { ImageFile } from '../image-file.js';

/** One cached cluster-sized metadata table (an L2 table or a refcount block). */
export interface CachedTable {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly view: DataView;
  dirty: boolean;
}

/**
 * A least-recently-used cache of cluster-sized metadata tables. Clean tables are evicted when
 * the cache is over capacity; dirty ones stay until the owner writes them back (so readers
 * never write metadata and the owner controls the order of metadata writes).
 */
export class TableCache {
  private readonly tables = new Map<number, CachedTable>();
  private readonly loading = new Map<number, Promise<CachedTable>>();
  private dirtyCount = 0;

  constructor(
    private readonly file: ImageFile,
    private readonly clusterSize: number,
    /** Clean tables kept; may be raised when the image grows. */
    public capacity: number,
    private readonly what: string,
  ) {}

  /** Number of tables modified since they were last written. */
  get dirtyTables(): number {
    return this.dirtyCount;
  }

  /** The table at `offset`, loaded from the file when not cached. */
  async get(offset: number): Promise<CachedTable> {
    const cached = this.tables.get(offset);
    if (cached) {
      this.tables.delete(offset);
      this.tables.set(offset, cached);
      return cached;
    }
    const pending = this.loading.get(offset);
    if (pending) return pending;
    const load = this.load(offset);
    this.loading.set(offset, load);
    try {
      return await load;
    } finally {
      this.loading.delete(offset);
    }
  }

  /** The table at `offset` only if it is cached (no I/O). */
  peek(offset: number): CachedTable | undefined {
    return this.tables.get(offset);
  }

  /** Puts a new table (zeroed, or a copy of `from`) at `offset`, marked dirty. */
  create(offset: number, from?: Uint8Array): CachedTable {
    const data = new Uint8Array(this.clusterSize);
    if (from) data.set(from);
    const table: CachedTable = { offset, data, view: new DataView(data.buffer), dirty: false };
    this.drop(offset);
    this.tables.set(offset, table);
    this.markDirty(table);
    this.evictClean(offset);
    return table;
  }

  markDirty(table: CachedTable): void {
    if (!table.dirty) {
      table.dirty = true;
      this.dirtyCount++;
    }
  }

  /** Forgets a table (after its cluster was freed); dirty contents are discarded. */
  drop(offset: number): void {
    const table = this.tables.get(offset);
    if (!table) return;
    if (table.dirty) this.dirtyCount--;
    this.tables.delete(offset);
  }

  /** Writes every dirty table, in offset order (sequential I/O), and marks them clean. */
  async writeBack(): Promise<void> {
    if (this.dirtyCount === 0) return;
    const dirty = [...this.tables.values()].filter((t) => t.dirty).sort((a, b) => a.offset - b.offset);
    for (const table of dirty) {
      // Mark clean first: a concurrent modification re-dirties it and is written next time.
      table.dirty = false;
      this.dirtyCount--;
      await this.file.write(table.data, table.offset);
    }
    this.evictClean();
  }

  /** Every cached table, for overlap checks. */
  offsets(): IterableIterator<number> {
    return this.tables.keys();
  }

  clear(): void {
    this.tables.clear();
    this.dirtyCount = 0;
  }

  private async load(offset: number): Promise<CachedTable> {
    const data = new Uint8Array(this.clusterSize);
    const n = await this.file.read(data, offset);
    if (n < this.clusterSize) {
      throw new ImageError(
        'corrupt',
        `${this.what} at offset 0x${offset.toString(16)} lies past the end of the file`,
        {
          path: this.file.path,
        },
      );
    }
    const table: CachedTable = { offset, data, view: new DataView(data.buffer), dirty: false };
    this.tables.set(offset, table);
    this.evictClean(offset);
    return table;
  }

  /** Drops least recently used clean tables while over capacity, never `keep` (just handed out). */
  private evictClean(keep?: number): void {
    if (this.tables.size <= this.capacity) return;
    for (const [offset, table] of this.tables) {
      if (this.tables.size <= this.capacity) break;
      if (!table.dirty && offset !== keep) this.tables.delete(offset);
    }
  }
}
