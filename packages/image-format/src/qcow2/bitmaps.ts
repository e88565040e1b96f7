import { DirtyBitmap } from '../dirty-bitmap.js';
import { ImageError } from '../errors.js';
import type { ImageFile } from '../image-file.js';
import {
  BITMAP_TYPE_DIRTY_TRACKING,
  BME_FLAG_AUTO,
  BME_FLAG_EXTRA_DATA_COMPATIBLE,
  BME_FLAG_IN_USE,
  type BitmapDirectoryEntry,
  bitmapTableEntries,
  checkBitmapName,
  decodeBitmapTableEntry,
  directoryEntryBytes,
  parseBitmapDirectory,
  serializeBitmapDirectory,
} from './bitmaps-directory.js';
import { MAX_BITMAP_DIRECTORY_BYTES, MAX_BITMAPS } from './constants.js';

/** Where the bitmap directory lives, as recorded in the bitmaps header extension. */
export interface BitmapDirectoryLocation {
  nbBitmaps: number;
  directoryOffset: number;
  directorySize: number;
}

/**
 * What persistent bitmaps need from the qcow2 image that holds them. `Qcow2Image`
 * provides it; tests can provide a small one of their own.
 */
export interface BitmapStorage {
  readonly file: ImageFile;
  readonly clusterSize: number;
  /** The guest-visible size every bitmap covers. */
  readonly virtualSize: number;
  /** qcow2 version: persistent bitmaps need version 3. */
  readonly version: number;
  readonly readOnly: boolean;
  /** The bitmaps extension as currently valid in the header (autoclear bit 0 set), or null. */
  readonly bitmapsExtension: BitmapDirectoryLocation | null;
  /** Allocates `count` contiguous clusters with refcount 1 and returns the offset of the first. */
  allocateClusters(count: number): Promise<number>;
  /**
   * Drops one reference from every cluster of [offset, offset+length). Only called once no
   * metadata on disk points at them any more.
   */
  freeClusters(offset: number, length: number): Promise<void>;
  /**
   * Durably rewrites the header with this bitmaps extension and autoclear bit 0 set (or,
   * for null, without the extension and with the bit clear). Refcount changes made so far
   * must be on disk before the header points at new clusters.
   */
  writeBitmapsExtension(location: BitmapDirectoryLocation | null): Promise<void>;
  /** Makes all metadata written so far durable (refcounts included). */
  flush(): Promise<void>;
}

/** How a bitmap is listed: what `qemu-img info` and `query-block` show of it. */
export interface BitmapInfo {
  name: string;
  granularity: number;
  /** Stored in the image file on close. */
  persistent: boolean;
  /** Recording guest writes (the qcow2 `auto` flag). */
  recording: boolean;
  /**
   * Found marked in-use when the image was opened: the last writer did not close it
   * cleanly, so its contents are unknown. It can only be removed.
   */
  inconsistent: boolean;
  /** Dirty bytes, as QEMU counts them (0 for an inconsistent bitmap). */
  count: number;
  /** The flags as `qemu-img info` prints them (`in-use`, `auto`). */
  flags: ('in-use' | 'auto')[];
}

/** Options for {@link PersistentBitmaps.add}. */
export interface AddBitmapOptions {
  /** Bytes per bit; default as QEMU: the cluster size clamped to 4 KiB .. 64 KiB. */
  granularity?: number;
  /** Store the bitmap in the image (default false, as QMP's block-dirty-bitmap-add). */
  persistent?: boolean;
  /** Create it not recording (default false). */
  disabled?: boolean;
}

interface BitmapState {
  name: string;
  /** The bits; null when the stored data could not be trusted (inconsistent). */
  bitmap: DirtyBitmap | null;
  granularity: number;
  persistent: boolean;
  /** The directory entry this bitmap has on disk, if any. */
  stored: BitmapDirectoryEntry | null;
}

/**
 * The dirty bitmaps of one qcow2 image, persistent and not, with QEMU's lifecycle: loaded
 * on open (and marked in-use in the file at once when opened read-write), updated by
 * guest writes while recording, and written back with in-use cleared on a clean close.
 */
export class PersistentBitmaps {
  private readonly bitmaps = new Map<string, BitmapState>();
  /** Directory entries whose data cannot be interpreted (unknown extra data), kept verbatim. */
  private readonly opaque: BitmapDirectoryEntry[] = [];
  private location: BitmapDirectoryLocation | null;
  private closed = false;

  private constructor(private readonly storage: BitmapStorage) {
    this.location = storage.bitmapsExtension;
  }

  /**
   * Reads the bitmap directory and every bitmap's data. A hostile or broken directory gives
   * an ImageError before anything in the file changes. When the image is writable, every
   * loaded bitmap is marked in-use in the file before this returns.
   */
  static async open(storage: BitmapStorage): Promise<PersistentBitmaps> {
    const set = new PersistentBitmaps(storage);
    const location = storage.bitmapsExtension;
    if (!location) return set;
    const fileSize = await storage.file.size();
    if (location.directorySize > MAX_BITMAP_DIRECTORY_BYTES) {
      throw new ImageError('too-large', 'Bitmap directory is too large', { path: storage.file.path });
    }
    if (
      location.directoryOffset % storage.clusterSize !== 0 ||
      location.directoryOffset + location.directorySize > fileSize
    ) {
      throw new ImageError('corrupt', 'Bitmap directory lies outside the file or is not cluster aligned', {
        path: storage.file.path,
      });
    }
    const bytes = new Uint8Array(location.directorySize);
    await storage.file.read(bytes, location.directoryOffset);
    const entries = parseBitmapDirectory(bytes, location.nbBitmaps, {
      clusterSize: storage.clusterSize,
      virtualSize: storage.virtualSize,
      fileSize,
    });
    // Everything is read and validated before anything is marked in-use, so a bad table
    // anywhere leaves the file untouched.
    const states: BitmapState[] = [];
    for (const entry of entries) {
      const granularity = 2 ** entry.granularityBits;
      const unknownExtra = entry.extraData.length > 0 && (entry.flags & BME_FLAG_EXTRA_DATA_COMPATIBLE) === 0;
      if (unknownExtra) {
        set.opaque.push(entry);
        continue;
      }
      const inconsistent = (entry.flags & BME_FLAG_IN_USE) !== 0;
      const bitmap = inconsistent ? null : await loadBitmapData(storage, entry, fileSize);
      if (bitmap) bitmap.enabled = (entry.flags & BME_FLAG_AUTO) !== 0;
      states.push({ name: entry.name, bitmap, granularity, persistent: true, stored: entry });
    }
    for (const state of states) set.bitmaps.set(state.name, state);
    if (!storage.readOnly && states.some((s) => s.bitmap !== null)) await set.markInUse();
    return set;
  }

  /** Every bitmap, persistent ones in directory order first, then the others as added. */
  list(): BitmapInfo[] {
    return [...this.bitmaps.values()].map((s) => info(s));
  }

  /** Whether a bitmap of that name exists. */
  has(name: string): boolean {
    return this.bitmaps.has(name);
  }

  /** The bits of a usable bitmap (not an inconsistent one). */
  get(name: string): DirtyBitmap {
    return this.usable(name);
  }

  /** Creates a bitmap, like QMP `block-dirty-bitmap-add` (persistent ones are written on close). */
  add(name: string, options: AddBitmapOptions = {}): DirtyBitmap {
    this.checkOpen();
    const persistent = options.persistent ?? false;
    if (this.bitmaps.has(name) || this.opaque.some((e) => e.name === name)) {
      throw new ImageError('exists', `Bitmap already exists: ${name}`);
    }
    checkBitmapName(name);
    const granularity = options.granularity ?? Math.min(65536, Math.max(4096, this.storage.clusterSize));
    const bitmap = new DirtyBitmap({
      granularity,
      size: this.storage.virtualSize,
      enabled: !options.disabled,
    });
    if (persistent) this.checkCanStore(name, granularity);
    this.bitmaps.set(name, { name, bitmap, granularity, persistent, stored: null });
    return bitmap;
  }

  /**
   * Removes a bitmap, like `block-dirty-bitmap-remove`. A persistent bitmap is dropped from
   * the file at once (directory rewritten, its clusters freed). This is the one operation
   * an inconsistent bitmap allows.
   */
  async remove(name: string): Promise<void> {
    this.checkOpen();
    const state = this.bitmaps.get(name);
    const opaqueIndex = this.opaque.findIndex((e) => e.name === name);
    if (!state && opaqueIndex < 0) throw notFound(name);
    const stored = state ? state.stored : (this.opaque[opaqueIndex] as BitmapDirectoryEntry);
    if (stored) {
      if (this.storage.readOnly) throw readOnly(this.storage, name);
      this.bitmaps.delete(name);
      if (opaqueIndex >= 0) this.opaque.splice(opaqueIndex, 1);
      await this.writeDirectory(this.storedEntries());
      await this.freeBitmapClusters(stored);
      await this.storage.flush();
    } else {
      this.bitmaps.delete(name);
    }
  }

  /** Clears every bit (`block-dirty-bitmap-clear`). */
  clear(name: string): void {
    this.usable(name).clear();
  }

  /** Starts recording guest writes (`block-dirty-bitmap-enable`). */
  enable(name: string): void {
    this.usable(name).enabled = true;
  }

  /** Stops recording guest writes (`block-dirty-bitmap-disable`). */
  disable(name: string): void {
    this.usable(name).enabled = false;
  }

  /** ORs the sources into `target` (`block-dirty-bitmap-merge`); all must share the target's granularity and size. */
  merge(target: string, sources: readonly string[]): void {
    const into = this.usable(target);
    const from = sources.map((name) => this.usable(name));
    for (const source of from) {
      if (source.size !== into.size) {
        throw new ImageError('invalid-argument', "Bitmaps are incompatible and can't be merged");
      }
    }
    // Merging differing granularities is allowed by QEMU: bits are mapped through byte ranges.
    for (const source of from) {
      if (source.granularity === into.granularity) into.merge(source);
      else for (const extent of source.extents()) into.set(extent.offset, extent.length);
    }
  }

  /** Records a guest write in every recording bitmap. The image's write path calls this. */
  onGuestWrite(offset: number, length: number): void {
    for (const state of this.bitmaps.values()) {
      if (state.bitmap?.enabled) state.bitmap.set(offset, length);
    }
  }

  /** Follows a change of the virtual disk size. */
  onResize(newSize: number): void {
    for (const state of this.bitmaps.values()) state.bitmap?.resize(newSize);
  }

  /**
   * Writes every persistent bitmap back (data, tables, directory, header extension) with
   * in-use cleared, then frees what the previous copies used. Call on a clean close;
   * afterwards this object refuses further changes.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.storage.readOnly) return;
    const previous: BitmapDirectoryEntry[] = [];
    for (const state of this.bitmaps.values()) {
      if (!state.persistent || !state.bitmap) continue;
      if (state.stored) previous.push(state.stored);
      state.stored = await this.storeBitmapData(state.bitmap, state.name, state.stored);
    }
    const entries = this.storedEntries();
    if (entries.length === 0 && !this.location) return;
    await this.storage.flush();
    await this.writeDirectory(entries);
    for (const old of previous) await this.freeBitmapClusters(old);
    await this.storage.flush();
  }

  // --- internals ----------------------------------------------------------------------------

  /** Directory entries in order: persistent bitmaps (as they will be on disk), then opaque ones. */
  private storedEntries(): BitmapDirectoryEntry[] {
    const entries: BitmapDirectoryEntry[] = [];
    for (const state of this.bitmaps.values())
      if (state.persistent && state.stored) entries.push(state.stored);
    return [...entries, ...this.opaque];
  }

  /**
   * Marks loaded bitmaps in-use in the existing directory. While the directory is rewritten
   * in place the extension is declared invalid (autoclear bit 0 clear), so a crash in
   * between leaves bitmaps that are ignored rather than trusted.
   */
  private async markInUse(): Promise<void> {
    const location = this.location;
    if (!location) return;
    for (const state of this.bitmaps.values()) {
      if (state.bitmap && state.stored)
        state.stored = { ...state.stored, flags: state.stored.flags | BME_FLAG_IN_USE };
    }
    const bytes = serializeBitmapDirectory(this.storedEntries());
    if (bytes.length !== location.directorySize) {
      throw new ImageError('corrupt', 'Bitmap directory changed size while being marked in use');
    }
    await this.storage.writeBitmapsExtension(null);
    await this.storage.file.write(bytes, location.directoryOffset);
    await this.storage.file.flush();
    await this.storage.writeBitmapsExtension(location);
  }

  /** Writes a new directory (or none), switches the header to it, then frees the old one. */
  private async writeDirectory(entries: BitmapDirectoryEntry[]): Promise<void> {
    const old = this.location;
    let next: BitmapDirectoryLocation | null = null;
    if (entries.length > 0) {
      const bytes = serializeBitmapDirectory(entries);
      const clusters = Math.ceil(bytes.length / this.storage.clusterSize);
      const offset = await this.storage.allocateClusters(clusters);
      const padded = new Uint8Array(clusters * this.storage.clusterSize);
      padded.set(bytes);
      await this.storage.file.write(padded, offset);
      await this.storage.flush();
      next = { nbBitmaps: entries.length, directoryOffset: offset, directorySize: bytes.length };
    }
    await this.storage.writeBitmapsExtension(next);
    this.location = next;
    if (old) await this.storage.freeClusters(old.directoryOffset, old.directorySize);
  }

  /** Writes a bitmap's data clusters and table; all-zero clusters become table entry 0. */
  private async storeBitmapData(
    bitmap: DirtyBitmap,
    name: string,
    previous: BitmapDirectoryEntry | null,
  ): Promise<BitmapDirectoryEntry> {
    const { clusterSize, file } = this.storage;
    const granularityBits = Math.log2(bitmap.granularity);
    const tableSize = bitmapTableEntries(bitmap.size, granularityBits, clusterSize);
    const granulesPerCluster = clusterSize * 8;
    const table = new Uint8Array(tableSize * 8);
    const tableView = new DataView(table.buffer);
    for (let i = 0; i < tableSize; i++) {
      const first = i * granulesPerCluster;
      const count = Math.min(granulesPerCluster, bitmap.granuleCount - first);
      if (bitmap.isGranuleRangeClear(first, count)) continue;
      const data = new Uint8Array(clusterSize);
      data.set(bitmap.serialize(first, count));
      const offset = await this.storage.allocateClusters(1);
      await file.write(data, offset);
      tableView.setBigUint64(i * 8, BigInt(offset));
    }
    const tableClusters = Math.max(1, Math.ceil(table.length / clusterSize));
    const tableOffset = await this.storage.allocateClusters(tableClusters);
    const paddedTable = new Uint8Array(tableClusters * clusterSize);
    paddedTable.set(table);
    await file.write(paddedTable, tableOffset);
    return {
      name,
      tableOffset,
      tableSize,
      flags: (bitmap.enabled ? BME_FLAG_AUTO : 0) | ((previous?.flags ?? 0) & BME_FLAG_EXTRA_DATA_COMPATIBLE),
      type: BITMAP_TYPE_DIRTY_TRACKING,
      granularityBits,
      extraData: previous?.extraData ?? new Uint8Array(0),
    };
  }

  /** Frees a stored bitmap's data clusters and table (after no directory points at it). */
  private async freeBitmapClusters(entry: BitmapDirectoryEntry): Promise<void> {
    const { clusterSize, file } = this.storage;
    const table = new Uint8Array(entry.tableSize * 8);
    await file.read(table, entry.tableOffset);
    const view = new DataView(table.buffer);
    for (let i = 0; i < entry.tableSize; i++) {
      const decoded = decodeBitmapTableEntry(view.getBigUint64(i * 8), clusterSize);
      if (typeof decoded !== 'string' && decoded.kind === 'data') {
        await this.storage.freeClusters(decoded.offset, clusterSize);
      }
    }
    await this.storage.freeClusters(entry.tableOffset, entry.tableSize * 8);
  }

  private checkCanStore(name: string, granularity: number): void {
    const where = `Can't make bitmap '${name}' persistent in '${this.storage.file.path}'`;
    if (this.storage.readOnly) throw new ImageError('read-only', `${where}: the image is read-only`);
    if (this.storage.version < 3) {
      throw new ImageError('unsupported-feature', `${where}: Cannot store dirty bitmaps in qcow2 v2 files`);
    }
    const persistent = [...this.bitmaps.values()].filter((s) => s.persistent).length + this.opaque.length;
    if (persistent + 1 > MAX_BITMAPS)
      throw new ImageError('too-large', `${where}: Maximum number of persistent bitmaps is already reached`);
    const directoryBytes =
      this.storedEntries().reduce((sum, e) => sum + directoryEntryBytes(e), 0) +
      directoryEntryBytes({ name, extraData: new Uint8Array(0) });
    if (directoryBytes > MAX_BITMAP_DIRECTORY_BYTES) {
      throw new ImageError('too-large', `${where}: No space left in the bitmap directory`);
    }
    const tableBytes = bitmapTableEntries(
      this.storage.virtualSize,
      Math.log2(granularity),
      this.storage.clusterSize,
    );
    if (tableBytes > 0x8000000)
      throw new ImageError('too-large', `${where}: Too large bitmap for this granularity`);
  }

  private usable(name: string): DirtyBitmap {
    this.checkOpen();
    const state = this.bitmaps.get(name);
    if (!state) {
      if (this.opaque.some((e) => e.name === name)) {
        throw new ImageError(
          'unsupported-feature',
          `Bitmap '${name}' has extra data this implementation does not know`,
        );
      }
      throw notFound(name);
    }
    if (!state.bitmap) {
      throw new ImageError(
        'in-use',
        `Bitmap '${name}' is inconsistent and cannot be used; try block-dirty-bitmap-remove to delete this bitmap from disk`,
      );
    }
    return state.bitmap;
  }

  private checkOpen(): void {
    if (this.closed) throw new ImageError('closed', 'The bitmaps of this image were already written back');
  }
}

function info(state: BitmapState): BitmapInfo {
  const inconsistent = state.bitmap === null;
  const recording = state.bitmap ? state.bitmap.enabled : ((state.stored?.flags ?? 0) & BME_FLAG_AUTO) !== 0;
  const flags: ('in-use' | 'auto')[] = [];
  if (inconsistent) flags.push('in-use');
  if (recording) flags.push('auto');
  return {
    name: state.name,
    granularity: state.granularity,
    persistent: state.persistent,
    recording,
    inconsistent,
    count: state.bitmap ? state.bitmap.count() : 0,
    flags,
  };
}

/** Reads one bitmap's table and data clusters into a new DirtyBitmap. */
async function loadBitmapData(
  storage: BitmapStorage,
  entry: BitmapDirectoryEntry,
  fileSize: number,
): Promise<DirtyBitmap> {
  const { clusterSize, file, virtualSize } = storage;
  const bitmap = new DirtyBitmap({ granularity: 2 ** entry.granularityBits, size: virtualSize });
  const needed = bitmapTableEntries(virtualSize, entry.granularityBits, clusterSize);
  const table = new Uint8Array(entry.tableSize * 8);
  await file.read(table, entry.tableOffset);
  const view = new DataView(table.buffer);
  const granulesPerCluster = clusterSize * 8;
  const data = new Uint8Array(clusterSize);
  for (let i = 0; i < needed; i++) {
    const decoded = decodeBitmapTableEntry(view.getBigUint64(i * 8), clusterSize);
    if (typeof decoded === 'string') {
      throw new ImageError('corrupt', `Bitmap '${entry.name}': ${decoded}`, { path: file.path });
    }
    const first = i * granulesPerCluster;
    const count = Math.min(granulesPerCluster, bitmap.granuleCount - first);
    if (decoded.kind === 'ones') bitmap.fillGranules(first, count, true);
    if (decoded.kind !== 'data') continue;
    if (decoded.offset >= fileSize) {
      throw new ImageError('corrupt', `Bitmap '${entry.name}': data cluster lies past the end of the file`, {
        path: file.path,
      });
    }
    data.fill(0);
    await file.read(data, decoded.offset);
    bitmap.deserialize(data, first, count);
  }
  return bitmap;
}

function notFound(name: string): ImageError {
  return new ImageError('not-found', `Dirty bitmap '${name}' not found`);
}

function readOnly(storage: BitmapStorage, name: string): ImageError {
  return new ImageError('read-only', `Cannot remove bitmap '${name}': '${storage.file.path}' is read-only`);
}
