import { AsyncRwLock } from '../async-lock.js';
import type { BlockStatusExtent, ImageDriver, ImageFormatName } from '../driver.js';
import { ImageError, type ImageErrorReason } from '../errors.js';
import type { ImageFile } from '../image-file.js';
import { type CompressionType, deflateCluster, inflateCluster, zstdAvailable } from './compression.js';
import {
  AUTOCLEAR_BITMAPS,
  AUTOCLEAR_KNOWN,
  COMPAT_LAZY_REFCOUNTS,
  INCOMPAT_COMPRESSION,
  INCOMPAT_CORRUPT,
  INCOMPAT_DATA_FILE,
  INCOMPAT_DIRTY,
  INCOMPAT_EXTL2,
  INCOMPAT_KNOWN,
  MAX_L1_BYTES,
  MAX_SNAPSHOT_TABLE_BYTES,
} from './constants.js';
import {
  type Qcow2Header,
  checkHeaderAgainstFile,
  describeFeatures,
  parseHeader,
  peekClusterBits,
  serializeHeader,
} from './header.js';
import {
  ClusterKind,
  classify,
  compressedClusters,
  compressedEntry,
  compressedLocation,
  entryHi,
  entryLo,
  entryOffset,
  isCopied,
  setEntry,
  setRawEntry,
} from './l2-entry.js';
import { type BitmapDirectoryLocation, type BitmapStorage, PersistentBitmaps } from './bitmaps.js';
import { Refcounts } from './refcounts.js';
import { type SnapshotEntry, parseSnapshotTable, serializeSnapshotTable } from './snapshot-table.js';
import { type CachedTable, TableCache } from './table-cache.js';

/** QEMU's default upper bound for the L2 cache (it covers the whole disk up to this size). */
const L2_CACHE_MAX_BYTES = 32 * 1024 * 1024;

/** Options for {@link Qcow2Image.open}. */
export interface Qcow2OpenOptions {
  readOnly?: boolean;
  /** The already opened backing image, when the chain is followed. */
  backing?: ImageDriver | null;
  /**
   * Repairs the refcounts of an image left dirty by a lazy-refcounts writer; called on
   * read-write open when the dirty bit is set, before any table is loaded. Defaults to
   * `checkImage` with `repair: 'all'`, as QEMU does.
   */
  repairDirty?: (file: ImageFile) => Promise<void>;
  /** Load persistent bitmaps and run their in-use lifecycle (default true). */
  bitmaps?: boolean;
}

/** Runs before the header is finalised on a clean close (e.g. to store persistent bitmaps). */
export type CloseHook = (image: Qcow2Image) => Promise<void>;

/** What `qemu-img info` reports about a qcow2 image. */
export interface Qcow2Info {
  format: 'qcow2';
  filename: string;
  virtualSize: number;
  /** Bytes the host file occupies on disk. */
  actualSize: number;
  clusterSize: number;
  /** '0.10' for version 2, '1.1' for version 3. */
  compat: '0.10' | '1.1';
  lazyRefcounts: boolean;
  refcountBits: number;
  corrupt: boolean;
  extendedL2: boolean;
  compressionType: 'zlib' | 'zstd';
  /** The dirty bit (incompatible bit 0) as found or set. */
  dirty: boolean;
  backingFilename: string | null;
  backingFormat: string | null;
  dataFile: string | null;
  snapshots: SnapshotInfo[];
  /** Persistent bitmaps stored in the image, as `qemu-img info` lists them (empty when none). */
  bitmaps: Array<{ name: string; granularity: number; flags: ('in-use' | 'auto')[] }>;
}

/** One internal snapshot, as `qemu-img snapshot -l` lists it. */
export interface SnapshotInfo {
  id: string;
  name: string;
  /** Virtual size when taken. */
  diskSize: number;
  vmStateSize: number;
  dateSeconds: number;
  dateNanoseconds: number;
  vmClockNs: number;
  icount: number | null;
}

function err(reason: ImageErrorReason, message: string, path: string): ImageError {
  return new ImageError(reason, message, { path });
}

/**
 * A qcow2 image (version 2 or 3) over an {@link ImageFile}. Reads run concurrently; anything
 * that allocates or frees clusters holds an exclusive lock. Metadata is cached and written
 * back in dependency order (data, refcounts, L2 tables, L1 table) with flush barriers.
 */
export class Qcow2Image implements ImageDriver, BitmapStorage {
  readonly format: ImageFormatName = 'qcow2';
  readonly clusterBits: number;
  readonly clusterSize: number;
  /** L2 entries per table. */
  readonly l2Entries: number;
  /** Internal: the header as last written. Change it through {@link rewriteHeader}. */
  header: Qcow2Header;
  /** Internal: refcount table, blocks and the cluster allocator. */
  readonly refcounts: Refcounts;
  /** Internal: L2 table cache. */
  readonly l2Cache: TableCache;
  /** Internal: active L1 table offsets (cluster-aligned) and their COPIED flags. */
  l1: number[];
  l1Copied: Uint8Array;
  private l1Dirty = false;
  /** Internal: the snapshot table. */
  snapshots: SnapshotEntry[];
  /** Internal: hooks run on a clean close before the header is finalised. */
  readonly closeHooks: CloseHook[] = [];
  /** The image's dirty bitmaps (persistent ones loaded from the file); null when not loaded. */
  bitmaps: PersistentBitmaps | null = null;
  private readonly lock = new AsyncRwLock();
  private closed = false;
  private dirtyBitWritten = false;

  private constructor(
    readonly file: ImageFile,
    header: Qcow2Header,
    refcounts: Refcounts,
    l1: number[],
    l1Copied: Uint8Array,
    snapshots: SnapshotEntry[],
    readonly readOnly: boolean,
    public backing: ImageDriver | null,
  ) {
    this.header = header;
    this.clusterBits = header.clusterBits;
    this.clusterSize = 2 ** header.clusterBits;
    this.l2Entries = this.clusterSize / 8;
    this.refcounts = refcounts;
    this.l1 = l1;
    this.l1Copied = l1Copied;
    this.snapshots = snapshots;
    this.l2Cache = new TableCache(file, this.clusterSize, this.l2CacheTables(header.size), 'L2 table');
    refcounts.onFreed = (offset) => this.l2Cache.drop(offset);
  }

  /** QEMU's default L2 cache: enough tables to map the whole disk, at most 32 MiB, at least two. */
  private l2CacheTables(size: number): number {
    const needed = Math.ceil(size / this.clusterSize) * 8;
    const bytes = Math.min(Math.max(needed, 2 * this.clusterSize), L2_CACHE_MAX_BYTES);
    return Math.max(2, Math.ceil(bytes / this.clusterSize));
  }

  get virtualSize(): number {
    return this.header.size;
  }
  get filename(): string {
    return this.file.path;
  }
  get backingFileName(): string | null {
    return this.header.backingFile;
  }
  get backingFormat(): ImageFormatName | null {
    const f = this.header.backingFormat;
    return f === 'qcow2' || f === 'raw' ? f : null;
  }
  /** Version 3 images have the ZERO flag. */
  get v3(): boolean {
    return this.header.version === 3;
  }

  /**
   * Opens a qcow2 image on `file`. Validates the header, feature bits, refcount table, L1
   * table and snapshot table before anything is written; refuses unknown incompatible
   * features, encryption, external data files and (read-write) corrupt images.
   */
  static async open(file: ImageFile, options: Qcow2OpenOptions = {}): Promise<Qcow2Image> {
    const readOnly = options.readOnly ?? file.readOnly;
    const path = file.path;
    const fileSize = await file.size();
    const start = new Uint8Array(Math.min(fileSize, 104));
    await file.read(start, 0);
    const clusterBits = peekClusterBits(start);
    const cluster0 = new Uint8Array(Math.min(fileSize, 2 ** clusterBits));
    await file.read(cluster0, 0);
    let header: Qcow2Header;
    try {
      header = parseHeader(cluster0);
      checkHeaderAgainstFile(header, fileSize);
    } catch (e) {
      if (e instanceof ImageError) throw new ImageError(e.reason, e.message, { path });
      throw e;
    }
    checkFeatures(header, readOnly, path);
    if ((header.incompatibleFeatures & INCOMPAT_COMPRESSION) !== 0n && !(await zstdAvailable())) {
      throw err(
        'unsupported-feature',
        'zstd-compressed qcow2 images need a Node.js with zstd (22.15 or later)',
        path,
      );
    }
    if (!readOnly && (header.incompatibleFeatures & INCOMPAT_DIRTY) !== 0n) {
      // Left dirty by a lazy-refcounts writer: its refcounts cannot be trusted until repaired.
      await repairDirtyImage(file, options.repairDirty);
      return Qcow2Image.open(file, options);
    }
    const clusterSize = 2 ** clusterBits;

    const image = { current: null as Qcow2Image | null };
    const refcounts = await Refcounts.load(
      file,
      clusterBits,
      header.refcountOrder,
      header.refcountTableOffset,
      header.refcountTableClusters,
      fileSize,
      async (offset, clusters) => {
        const target = image.current;
        if (!target) throw new Error('refcount table moved before the image was opened');
        target.header.refcountTableOffset = offset;
        target.header.refcountTableClusters = clusters;
        await target.writeHeader();
      },
    );
    const [l1, l1Copied] = await loadL1(file, header.l1TableOffset, header.l1Size, clusterSize, fileSize);
    let snapshots: SnapshotEntry[] = [];
    if (header.nbSnapshots > 0) {
      const raw = new Uint8Array(Math.min(fileSize - header.snapshotsOffset, MAX_SNAPSHOT_TABLE_BYTES));
      await file.read(raw, header.snapshotsOffset);
      snapshots = parseSnapshotTable(raw, header.nbSnapshots, header.version, path);
      for (const s of snapshots) {
        if (s.l1Size * 8 > MAX_L1_BYTES)
          throw err('too-large', `Snapshot '${s.name}' L1 table too large`, path);
        if (s.l1TableOffset % clusterSize !== 0 || s.l1TableOffset + s.l1Size * 8 > fileSize) {
          throw err('corrupt', `Snapshot '${s.name}' L1 table offset invalid`, path);
        }
      }
    }
    checkOverlaps(header, snapshots, clusterSize, path);

    const img = new Qcow2Image(
      file,
      header,
      refcounts,
      l1,
      l1Copied,
      snapshots,
      readOnly,
      options.backing ?? null,
    );
    image.current = img;
    if (!readOnly && (header.autoclearFeatures & ~AUTOCLEAR_KNOWN) !== 0n) {
      // A writer must clear autoclear bits it does not understand before changing the image.
      img.header.autoclearFeatures &= AUTOCLEAR_KNOWN;
      await img.writeHeader();
    }
    if (options.bitmaps ?? true) {
      img.bitmaps = await PersistentBitmaps.open(img);
      const bitmaps = img.bitmaps;
      img.closeHooks.push(() => bitmaps.close());
    }
    return img;
  }

  // ---------------------------------------------------------------------------------------
  // Reading

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.checkRequest(offset, buf.length);
    await this.lock.shared(() => this.readUnlocked(buf, offset));
  }

  /** Reads guest data of this layer (through its backing) without taking the lock. */
  private async readUnlocked(buf: Uint8Array, offset: number): Promise<void> {
    const cs = this.clusterSize;
    const tableSpan = cs * this.l2Entries;
    const tasks: Promise<void>[] = [];
    // The current run of clusters that can be served by one operation.
    let runKind = -1;
    let runStart = 0;
    let runLength = 0;
    let runHost = 0;
    const flushRun = () => {
      if (runLength > 0)
        tasks.push(
          this.readRun(runKind, buf.subarray(runStart, runStart + runLength), offset + runStart, runHost),
        );
      runLength = 0;
    };
    let pos = 0;
    while (pos < buf.length) {
      const l1Index = Math.floor((offset + pos) / tableSpan);
      const table = await this.l2Table(l1Index);
      const tableEnd = (l1Index + 1) * tableSpan;
      while (pos < buf.length && offset + pos < tableEnd) {
        const guest = offset + pos;
        const inCluster = guest % cs;
        const n = Math.min(cs - inCluster, buf.length - pos);
        let kind: number = ClusterKind.Unallocated;
        let host = 0;
        if (table) {
          const index = Math.floor(guest / cs) % this.l2Entries;
          const hi = entryHi(table.view, index);
          const lo = entryLo(table.view, index);
          kind = classify(hi, lo, this.v3);
          if (kind === ClusterKind.Normal) {
            host = entryOffset(hi, lo);
            if (host % cs !== 0) {
              throw err(
                'corrupt',
                `Cluster allocation offset 0x${host.toString(16)} unaligned`,
                this.file.path,
              );
            }
            host += inCluster;
          } else if (kind === ClusterKind.ZeroAlloc) {
            kind = ClusterKind.ZeroPlain;
          } else if (kind === ClusterKind.Compressed) {
            flushRun();
            tasks.push(this.readCompressed(hi, lo, buf.subarray(pos, pos + n), inCluster));
            pos += n;
            continue;
          }
        }
        const extends_ =
          runLength > 0 && kind === runKind && (kind !== ClusterKind.Normal || host === runHost + runLength);
        if (!extends_) {
          flushRun();
          runKind = kind;
          runStart = pos;
          runHost = host;
        }
        runLength += n;
        pos += n;
      }
    }
    flushRun();
    await Promise.all(tasks);
  }

  private async readRun(kind: number, buf: Uint8Array, guest: number, host: number): Promise<void> {
    if (kind === ClusterKind.Normal) {
      const n = await this.file.read(buf, host);
      // Data past the end of the host file reads as zeros, as it does in QEMU.
      if (n < buf.length) buf.fill(0, n);
    } else if (kind === ClusterKind.Unallocated && this.backing) {
      const backingSize = this.backing.virtualSize;
      const inBacking = Math.max(0, Math.min(buf.length, backingSize - guest));
      if (inBacking > 0) await this.backing.read(buf.subarray(0, inBacking), guest);
      buf.fill(0, inBacking);
    } else {
      buf.fill(0);
    }
  }

  private async readCompressed(hi: number, lo: number, out: Uint8Array, inCluster: number): Promise<void> {
    const data = await this.decompress(hi, lo);
    out.set(data.subarray(inCluster, inCluster + out.length));
  }

  private async decompress(hi: number, lo: number): Promise<Uint8Array> {
    const loc = compressedLocation(hi, lo, this.clusterBits);
    const input = new Uint8Array(loc.length);
    const n = await this.file.read(input, loc.offset);
    return inflateCluster(
      input.subarray(0, n),
      this.clusterSize,
      this.file.path,
      this.header.compressionType as CompressionType,
    );
  }

  /** Internal: the L2 table for an L1 index, or null when the L1 entry is empty. */
  async l2Table(l1Index: number): Promise<CachedTable | null> {
    if (l1Index >= this.l1.length) return null;
    const offset = this.l1[l1Index] as number;
    if (offset === 0) return null;
    return this.l2Cache.get(offset);
  }

  // ---------------------------------------------------------------------------------------
  // Writing

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.checkWritable();
    this.checkRequest(offset, buf.length);
    if (buf.length === 0) return;
    this.bitmaps?.onGuestWrite(offset, buf.length);
    // Overwrites of clusters this image owns alone change no metadata: they run concurrently
    // under the shared lock. Anything that allocates takes the exclusive lock.
    if (await this.lock.shared(() => this.tryWriteInPlace(buf, offset))) return;
    await this.lock.exclusive(async () => {
      await this.writeUnlocked(buf, offset);
      await this.maybeWriteBack();
    });
  }

  /** Guest ranges of in-place writes under way, so overlapping ones complete in issue order. */
  private readonly inPlaceWrites: Array<{ start: number; end: number; done: Promise<unknown> }> = [];

  /**
   * Writes `buf` in place when every cluster it touches is a normal cluster with COPIED set
   * (no allocation, no metadata change); returns false, having written nothing, otherwise.
   */
  private async tryWriteInPlace(buf: Uint8Array, offset: number): Promise<boolean> {
    const cs = this.clusterSize;
    const tableSpan = cs * this.l2Entries;
    const runs: Array<[bufStart: number, host: number, length: number]> = [];
    let pos = 0;
    while (pos < buf.length) {
      const l1Index = Math.floor((offset + pos) / tableSpan);
      if (l1Index >= this.l1.length || this.l1Copied[l1Index] !== 1) return false;
      const table = await this.l2Table(l1Index);
      if (!table) return false;
      const tableEnd = Math.min((l1Index + 1) * tableSpan, offset + buf.length);
      while (offset + pos < tableEnd) {
        const guest = offset + pos;
        const inCluster = guest % cs;
        const n = Math.min(cs - inCluster, tableEnd - guest);
        const index = Math.floor(guest / cs) % this.l2Entries;
        const hi = entryHi(table.view, index);
        const lo = entryLo(table.view, index);
        const kind = classify(hi, lo, this.v3);
        if (kind !== ClusterKind.Normal || !isCopied(hi)) return false;
        this.checkEntry(hi, lo, kind);
        const host = entryOffset(hi, lo) + inCluster;
        const last = runs[runs.length - 1];
        if (last && last[1] + last[2] === host) last[2] += n;
        else runs.push([pos, host, n]);
        pos += n;
      }
    }
    for (const [, host, length] of runs) this.checkNoMetadataOverlap(host, length);
    const end = offset + buf.length;
    const earlier = this.inPlaceWrites.filter((w) => w.start < end && offset < w.end).map((w) => w.done);
    const done = (async () => {
      if (earlier.length > 0) await Promise.allSettled(earlier);
      await Promise.all(
        runs.map(([at, host, length]) => this.file.write(buf.subarray(at, at + length), host)),
      );
    })();
    const entry = { start: offset, end, done };
    this.inPlaceWrites.push(entry);
    try {
      await done;
    } finally {
      this.inPlaceWrites.splice(this.inPlaceWrites.indexOf(entry), 1);
    }
    return true;
  }

  private async writeUnlocked(buf: Uint8Array, offset: number): Promise<void> {
    const cs = this.clusterSize;
    const tableSpan = cs * this.l2Entries;
    await this.markDirtyIfLazy();
    const tasks: Promise<void>[] = [];
    let pos = 0;
    while (pos < buf.length) {
      const l1Index = Math.floor((offset + pos) / tableSpan);
      const tableEnd = Math.min((l1Index + 1) * tableSpan, offset + buf.length);
      const table = await this.l2TableForWrite(l1Index);
      // In-place run (host contiguous) and allocation run (clusters needing new space).
      let placeStart = -1;
      let placeHost = 0;
      let placeLength = 0;
      let allocFirst = -1;
      let allocCount = 0;
      const flushPlace = () => {
        if (placeLength > 0) {
          this.checkNoMetadataOverlap(placeHost, placeLength);
          tasks.push(this.file.write(buf.subarray(placeStart, placeStart + placeLength), placeHost));
        }
        placeLength = 0;
      };
      const flushAlloc = async () => {
        if (allocCount > 0) await this.allocateAndWrite(table, allocFirst, allocCount, buf, offset);
        allocCount = 0;
      };
      while (offset + pos < tableEnd) {
        const guest = offset + pos;
        const inCluster = guest % cs;
        const n = Math.min(cs - inCluster, tableEnd - guest);
        const cluster = Math.floor(guest / cs);
        const index = cluster % this.l2Entries;
        const hi = entryHi(table.view, index);
        const lo = entryLo(table.view, index);
        const kind = classify(hi, lo, this.v3);
        this.checkEntry(hi, lo, kind);
        if (kind === ClusterKind.Normal && isCopied(hi)) {
          await flushAlloc();
          const host = entryOffset(hi, lo);
          if (placeLength > 0 && host + inCluster === placeHost + placeLength) {
            placeLength += n;
          } else {
            flushPlace();
            placeStart = pos;
            placeHost = host + inCluster;
            placeLength = n;
          }
        } else {
          flushPlace();
          if (allocCount > 0 && allocFirst + allocCount !== cluster) await flushAlloc();
          if (allocCount === 0) allocFirst = cluster;
          allocCount++;
        }
        pos += n;
      }
      flushPlace();
      await flushAlloc();
      // Allocated data is already written here; in-place writes do not change metadata.
      await this.maybeWriteBack();
    }
    await Promise.all(tasks);
  }

  /**
   * Gives `count` guest clusters from `first` new host clusters (one contiguous run), filling
   * the parts the write does not cover from the old guest view (COW), writing the data in one
   * I/O, then pointing the L2 entries at it and queueing the old clusters' references for release.
   * A preallocated zero cluster with COPIED is reused in place, zero-filled around the write.
   */
  private async allocateAndWrite(
    table: CachedTable,
    first: number,
    count: number,
    buf: Uint8Array,
    offset: number,
  ): Promise<void> {
    const cs = this.clusterSize;
    const runGuest = first * cs;
    const runEnd = runGuest + count * cs;
    const writeStart = Math.max(offset, runGuest);
    const writeEnd = Math.min(offset + buf.length, runEnd);
    // A single preallocated, unshared zero cluster keeps its host cluster.
    const firstIndex = first % this.l2Entries;
    const fhi = entryHi(table.view, firstIndex);
    const flo = entryLo(table.view, firstIndex);
    let host: number;
    let reuse = false;
    if (count === 1 && classify(fhi, flo, this.v3) === ClusterKind.ZeroAlloc && isCopied(fhi)) {
      host = entryOffset(fhi, flo);
      this.checkNoMetadataOverlap(host, cs);
      reuse = true;
    } else {
      host = await this.refcounts.allocate(count);
    }
    // Bytes to write: from the start of the first cluster touched to the end of the last.
    const lastCovered = Math.min(runEnd, Math.ceil(this.header.size / cs) * cs);
    if (writeStart === runGuest && writeEnd === lastCovered) {
      // The write covers every cluster of the run: nothing to copy on write, so the caller's
      // buffer goes to disk as it is (no fresh buffer, no copy).
      await this.file.write(buf.subarray(writeStart - offset, writeEnd - offset), host);
    } else {
      await this.writeWithCopyOnWrite(buf, offset, host, runGuest, lastCovered, reuse);
    }
    for (let i = 0; i < count; i++) {
      const index = (first + i) % this.l2Entries;
      if (!reuse) this.releaseEntry(table, index);
      setEntry(table.view, index, host + i * cs, true, false);
    }
    this.l2Cache.markDirty(table);
  }

  /**
   * Writes the run [runGuest, lastCovered) to `host`: the caller's bytes where the write
   * covers it, the old guest view around it (zeroes for a reused preallocated cluster).
   */
  private async writeWithCopyOnWrite(
    buf: Uint8Array,
    offset: number,
    host: number,
    runGuest: number,
    lastCovered: number,
    reuse: boolean,
  ): Promise<void> {
    const writeStart = Math.max(offset, runGuest);
    const writeEnd = Math.min(offset + buf.length, lastCovered);
    const data = new Uint8Array(lastCovered - runGuest);
    if (writeStart > runGuest) {
      if (!reuse) await this.readUnlocked(data.subarray(0, writeStart - runGuest), runGuest);
    }
    if (writeEnd < lastCovered) {
      const tailEnd = Math.min(lastCovered, this.header.size);
      if (!reuse && tailEnd > writeEnd) {
        await this.readUnlocked(data.subarray(writeEnd - runGuest, tailEnd - runGuest), writeEnd);
      }
    }
    data.set(buf.subarray(writeStart - offset, writeEnd - offset), writeStart - runGuest);
    await this.file.write(data, host);
  }

  /** Queues the release of whatever host storage an L2 entry holds (before it is overwritten). */
  private releaseEntry(table: CachedTable, index: number): void {
    const hi = entryHi(table.view, index);
    const lo = entryLo(table.view, index);
    const kind = classify(hi, lo, this.v3);
    this.checkEntry(hi, lo, kind);
    if (kind === ClusterKind.Normal || kind === ClusterKind.ZeroAlloc) {
      this.refcounts.queueFree(entryOffset(hi, lo), this.clusterSize);
    } else if (kind === ClusterKind.Compressed) {
      const loc = compressedLocation(hi, lo, this.clusterBits);
      const [a, b] = compressedClusters(loc, this.clusterBits);
      this.refcounts.queueFree(a * this.clusterSize, (b - a + 1) * this.clusterSize);
    }
  }

  /**
   * Internal: the L2 table for an L1 index, ready to be modified: allocated when the L1 entry
   * is empty, copied when it is shared with a snapshot (COPIED clear).
   */
  async l2TableForWrite(l1Index: number): Promise<CachedTable> {
    if (l1Index >= this.l1.length) throw err('corrupt', 'Guest offset beyond the L1 table', this.file.path);
    const old = this.l1[l1Index] as number;
    if (old !== 0 && this.l1Copied[l1Index]) return this.l2Cache.get(old);
    const fresh = await this.refcounts.allocate(1);
    let table: CachedTable;
    if (old === 0) {
      table = this.l2Cache.create(fresh);
    } else {
      const shared = await this.l2Cache.get(old);
      table = this.l2Cache.create(fresh, shared.data);
      this.refcounts.queueFree(old, this.clusterSize);
    }
    this.l1[l1Index] = fresh;
    this.l1Copied[l1Index] = 1;
    this.l1Dirty = true;
    return table;
  }

  /**
   * Writes whole clusters compressed (for convert -c). `offset` is cluster aligned; `buf`
   * covers whole clusters, the last of which may be the image's partial last cluster. The
   * clusters must be unallocated. A cluster whose compressed form is not smaller than a
   * cluster is written as a normal cluster instead.
   */
  async writeCompressed(buf: Uint8Array, offset: number): Promise<void> {
    this.checkWritable();
    const cs = this.clusterSize;
    if (offset % cs !== 0) {
      throw err('invalid-argument', 'Compressed writes must be cluster aligned', this.file.path);
    }
    this.checkRequest(offset, buf.length);
    if (buf.length % cs !== 0 && offset + buf.length !== this.header.size) {
      throw err('invalid-argument', 'Compressed writes must cover whole clusters', this.file.path);
    }
    // Compress every cluster first (outside the lock), as qemu-io's `write -c` does per cluster.
    const clusters: Array<{ full: Uint8Array; compressed: Uint8Array }> = [];
    for (let at = 0; at < buf.length; at += cs) {
      const full = new Uint8Array(cs);
      full.set(buf.subarray(at, Math.min(at + cs, buf.length)));
      clusters.push({
        full,
        compressed: await deflateCluster(full, this.header.compressionType as CompressionType),
      });
    }
    this.bitmaps?.onGuestWrite(offset, buf.length);
    await this.lock.exclusive(async () => {
      await this.markDirtyIfLazy();
      for (const [i, { full, compressed }] of clusters.entries()) {
        const guest = offset + i * cs;
        const table = await this.l2TableForWrite(Math.floor(guest / (cs * this.l2Entries)));
        const index = Math.floor(guest / cs) % this.l2Entries;
        if (entryHi(table.view, index) !== 0 || entryLo(table.view, index) !== 0) {
          throw err(
            'invalid-argument',
            'Compressed writes are only possible into unallocated clusters',
            this.file.path,
          );
        }
        if (compressed.length >= cs) {
          // Not smaller than a cluster: stored as a normal cluster, as QEMU does.
          const host = await this.refcounts.allocate(1);
          await this.file.write(full.subarray(0, Math.min(cs, this.header.size - guest)), host);
          setEntry(table.view, index, host, true, false);
        } else {
          const host = await this.refcounts.allocateBytes(compressed.length);
          await this.file.write(compressed, host);
          const [hi, lo] = compressedEntry(host, compressed.length, this.clusterBits);
          setRawEntry(table.view, index, hi, lo);
        }
        this.l2Cache.markDirty(table);
      }
      await this.maybeWriteBack();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Zeroes and discard

  async writeZeroes(offset: number, length: number, options: { mayUnmap?: boolean } = {}): Promise<void> {
    this.checkWritable();
    this.checkRequest(offset, length);
    if (length === 0) return;
    this.bitmaps?.onGuestWrite(offset, length);
    await this.lock.exclusive(async () => {
      await this.zeroUnlocked(offset, length, options.mayUnmap ?? false);
      await this.releaseFreedNow();
    });
  }

  private async zeroUnlocked(offset: number, length: number, mayUnmap: boolean): Promise<void> {
    const cs = this.clusterSize;
    const end = offset + length;
    const imageEnd = this.header.size;
    // Whole clusters (the partial last cluster of the image counts as whole).
    const alignedStart = Math.ceil(offset / cs) * cs;
    let alignedEnd = Math.floor(end / cs) * cs;
    if (end === imageEnd) alignedEnd = Math.ceil(end / cs) * cs;
    const partials: Array<[number, number]> = [];
    if (alignedStart < alignedEnd) {
      if (offset < alignedStart) partials.push([offset, alignedStart]);
      if (end > alignedEnd) partials.push([alignedEnd, end]);
    } else {
      const boundary = Math.min(end, Math.floor(offset / cs) * cs + cs);
      partials.push([offset, boundary]);
      if (boundary < end) partials.push([boundary, end]);
    }
    for (const [a, b] of partials) {
      // A partial cluster becomes a zero cluster only when the rest already reads as zero.
      const clusterStart = Math.floor(a / cs) * cs;
      const clusterEnd = Math.min(clusterStart + cs, imageEnd);
      const current = new Uint8Array(clusterEnd - clusterStart);
      await this.readUnlocked(current, clusterStart);
      current.fill(0, a - clusterStart, b - clusterStart);
      const allZero = current.every((x) => x === 0);
      if (this.v3 && allZero) {
        await this.zeroClusters(clusterStart, 1, mayUnmap);
      } else if (!this.v3 && allZero && this.header.backingFile === null) {
        // v2 without a backing file: an unallocated cluster reads as zeros.
        await this.discardClusters(clusterStart, 1, true);
      } else {
        await this.writeUnlocked(new Uint8Array(b - a), a);
      }
    }
    if (alignedStart < alignedEnd) {
      const count = (alignedEnd - alignedStart) / cs;
      if (this.v3) {
        await this.zeroClusters(alignedStart, count, mayUnmap);
      } else if (!this.backing && this.header.backingFile === null) {
        await this.discardClusters(alignedStart, count, true);
      } else {
        // v2 with a backing file has no way to say "zero": write zero data.
        const chunk = new Uint8Array(Math.min(count * cs, 4 * 1024 * 1024));
        for (let at = alignedStart; at < Math.min(alignedEnd, imageEnd); at += chunk.length) {
          const n = Math.min(chunk.length, Math.min(alignedEnd, imageEnd) - at);
          await this.writeUnlocked(chunk.subarray(0, n), at);
        }
      }
    }
  }

  /** Sets the ZERO flag on whole clusters (v3), keeping allocation unless unmapping is allowed. */
  private async zeroClusters(start: number, count: number, mayUnmap: boolean): Promise<void> {
    await this.markDirtyIfLazy();
    const cs = this.clusterSize;
    for (let i = 0; i < count; ) {
      const cluster = start / cs + i;
      const l1Index = Math.floor(cluster / this.l2Entries);
      const table = await this.l2TableForWrite(l1Index);
      for (; i < count && Math.floor((start / cs + i) / this.l2Entries) === l1Index; i++) {
        const index = (start / cs + i) % this.l2Entries;
        const hi = entryHi(table.view, index);
        const lo = entryLo(table.view, index);
        const kind = classify(hi, lo, true);
        if (kind === ClusterKind.Compressed || mayUnmap) {
          this.releaseEntry(table, index);
          setEntry(table.view, index, 0, false, true);
        } else {
          setRawEntry(table.view, index, hi, lo | 1);
        }
      }
      this.l2Cache.markDirty(table);
      await this.maybeWriteBack();
    }
  }

  async discard(offset: number, length: number): Promise<void> {
    this.checkWritable();
    this.checkRequest(offset, length);
    const cs = this.clusterSize;
    const end = offset + length;
    const start = Math.ceil(offset / cs) * cs;
    let alignedEnd = Math.floor(end / cs) * cs;
    if (end === this.header.size) alignedEnd = Math.ceil(end / cs) * cs;
    // v2 cannot say "zero" and dropping the cluster would expose the backing file: QEMU
    // answers ENOTSUP, which its block layer turns into a successful no-op. So do we.
    if (!this.v3 && this.header.backingFile !== null) return;
    if (start >= alignedEnd) return;
    this.bitmaps?.onGuestWrite(start, alignedEnd - start);
    await this.lock.exclusive(async () => {
      await this.discardClusters(start, (alignedEnd - start) / cs, false);
      await this.releaseFreedNow();
    });
  }

  /**
   * Drops the host clusters of whole guest clusters. A full discard leaves them unallocated;
   * otherwise (a guest discard) v3 clusters that were allocated or have a backing file become
   * plain zero clusters, so they never expose older data.
   */
  private async discardClusters(start: number, count: number, full: boolean): Promise<void> {
    const cs = this.clusterSize;
    const hasBacking = this.header.backingFile !== null;
    for (let i = 0; i < count; ) {
      const cluster = start / cs + i;
      const l1Index = Math.floor(cluster / this.l2Entries);
      if (l1Index >= this.l1.length || (this.l1[l1Index] === 0 && (full || !hasBacking || !this.v3))) {
        i = Math.min(count, (l1Index + 1) * this.l2Entries - start / cs);
        continue;
      }
      const table = await this.l2TableForWrite(l1Index);
      for (; i < count && Math.floor((start / cs + i) / this.l2Entries) === l1Index; i++) {
        const index = (start / cs + i) % this.l2Entries;
        const hi = entryHi(table.view, index);
        const lo = entryLo(table.view, index);
        const kind = classify(hi, lo, this.v3);
        const allocated =
          kind === ClusterKind.Normal || kind === ClusterKind.ZeroAlloc || kind === ClusterKind.Compressed;
        this.releaseEntry(table, index);
        if (!full && this.v3 && (hasBacking || allocated || kind === ClusterKind.ZeroPlain)) {
          setEntry(table.view, index, 0, false, true);
        } else {
          setEntry(table.view, index, 0, false, false);
        }
      }
      this.l2Cache.markDirty(table);
      // Long operations write back as they go instead of holding every dirty table.
      await this.maybeWriteBack();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Metadata write-back

  async flush(): Promise<void> {
    if (this.readOnly || this.closed) return;
    await this.lock.exclusive(() => this.writeBackMetadata());
  }

  /**
   * After a discard or an unmapping zero write: when host clusters were released, write the
   * L2 changes back and apply the releases at once, so the very next allocation can take the
   * freed clusters, as QEMU's does (it searches from the lowest freed cluster). The releases
   * still reach the disk only after the L2 tables that dropped them.
   */
  private async releaseFreedNow(): Promise<void> {
    if (this.refcounts.hasPendingFrees) await this.writeBackMetadata();
    else await this.maybeWriteBack();
  }

  /** Writes back when the caches hold more dirty tables than they may keep. */
  private async maybeWriteBack(): Promise<void> {
    if (
      this.l2Cache.dirtyTables > this.l2Cache.capacity ||
      this.refcounts.cache.dirtyTables > this.refcounts.cache.capacity
    ) {
      await this.writeBackMetadata();
    }
  }

  /**
   * Internal: writes every cached change in dependency order: data is flushed, then refcount
   * blocks (increments) are made durable, then L2 tables, then the L1 table; only then are
   * queued reference drops applied and written.
   */
  async writeBackMetadata(): Promise<void> {
    const dirty =
      this.l2Cache.dirtyTables > 0 ||
      this.refcounts.cache.dirtyTables > 0 ||
      this.l1Dirty ||
      this.refcounts.hasPendingFrees;
    if (!dirty) {
      await this.file.flush();
      return;
    }
    await this.file.flush();
    if (this.refcounts.cache.dirtyTables > 0) {
      await this.refcounts.writeBack();
      await this.file.flush();
    }
    if (this.l2Cache.dirtyTables > 0) {
      await this.l2Cache.writeBack();
      await this.file.flush();
    }
    if (this.l1Dirty) {
      await this.writeL1();
      await this.file.flush();
    }
    if (this.refcounts.hasPendingFrees) {
      await this.refcounts.applyPendingFrees();
      await this.refcounts.writeBack();
      await this.file.flush();
    }
  }

  /** Internal: writes the whole active L1 table to its place. */
  async writeL1(): Promise<void> {
    const raw = new Uint8Array(this.l1.length * 8);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < this.l1.length; i++)
      setEntry(view, i, this.l1[i] as number, this.l1Copied[i] === 1, false);
    await this.file.write(raw, this.header.l1TableOffset);
    this.l1Dirty = false;
  }

  /** Internal: serialises the current header into cluster 0 and makes it durable. */
  async writeHeader(): Promise<void> {
    const bytes = serializeHeader(this.header);
    await this.file.write(bytes, 0);
    await this.file.flush();
  }

  /**
   * Internal: rewrites the header with a new set of unknown extensions, bitmaps extension and
   * autoclear bits (for the bitmaps and check modules). Metadata is written back first.
   */
  async rewriteHeader(change: (header: Qcow2Header) => void): Promise<void> {
    this.checkWritable();
    await this.writeBackMetadata();
    const copy: Qcow2Header = { ...this.header };
    change(copy);
    serializeHeader({ ...copy });
    this.header = copy;
    await this.writeHeader();
  }

  private async markDirtyIfLazy(): Promise<void> {
    if (this.dirtyBitWritten || (this.header.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) === 0n) return;
    // Lazy refcounts: the dirty bit must be durable before the first allocating write.
    this.header.incompatibleFeatures |= INCOMPAT_DIRTY;
    await this.writeHeader();
    this.dirtyBitWritten = true;
  }

  // ---------------------------------------------------------------------------------------
  // Block status

  async blockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    this.checkRequest(offset, length);
    return this.lock.shared(async () => {
      const cs = this.clusterSize;
      const out: BlockStatusExtent[] = [];
      let pos = offset;
      const end = offset + length;
      while (pos < end) {
        const l1Index = Math.floor(pos / (cs * this.l2Entries));
        const table = await this.l2Table(l1Index);
        const tableEnd = Math.min(end, (l1Index + 1) * cs * this.l2Entries);
        while (pos < tableEnd) {
          const n = Math.min(cs - (pos % cs), tableEnd - pos);
          let extent: BlockStatusExtent = { offset: pos, length: n, status: 'unallocated' };
          if (table) {
            const index = Math.floor(pos / cs) % this.l2Entries;
            const hi = entryHi(table.view, index);
            const lo = entryLo(table.view, index);
            const kind = classify(hi, lo, this.v3);
            if (kind === ClusterKind.Normal) {
              extent = {
                offset: pos,
                length: n,
                status: 'data',
                hostOffset: entryOffset(hi, lo) + (pos % cs),
              };
            } else if (kind === ClusterKind.ZeroAlloc) {
              extent = {
                offset: pos,
                length: n,
                status: 'zero',
                hostOffset: entryOffset(hi, lo) + (pos % cs),
              };
            } else if (kind === ClusterKind.ZeroPlain) {
              extent = { offset: pos, length: n, status: 'zero' };
            } else if (kind === ClusterKind.Compressed) {
              extent = { offset: pos, length: n, status: 'data', compressed: true };
            }
          }
          appendExtent(out, extent);
          pos += n;
        }
      }
      return out;
    });
  }

  // ---------------------------------------------------------------------------------------
  // Resize

  async resize(newSize: number, options: { shrink?: boolean } = {}): Promise<void> {
    this.checkWritable();
    if (!Number.isSafeInteger(newSize) || newSize < 0)
      throw err('invalid-argument', 'Invalid image size', this.file.path);
    if (newSize % 512 !== 0)
      throw err('invalid-argument', 'The new size must be a multiple of 512', this.file.path);
    await this.lock.exclusive(async () => {
      const old = this.header.size;
      if (newSize === old) return;
      // Like qemu-img 7.2, resizing is allowed with internal snapshots (each keeps its own
      // size and L1 table) and with loaded bitmaps (they are resized with the disk).
      if (newSize < old) {
        if (!options.shrink) {
          throw err(
            'invalid-argument',
            'Use the shrink option to shrink an image (data past the new end is lost)',
            this.file.path,
          );
        }
        if (this.header.bitmaps !== null && this.bitmaps === null) {
          throw err(
            'invalid-argument',
            "Can't shrink an image whose persistent bitmaps are not loaded",
            this.file.path,
          );
        }
        const cs = this.clusterSize;
        const firstDropped = Math.ceil(newSize / cs);
        const lastCluster = Math.ceil(old / cs);
        await this.discardClusters(firstDropped * cs, lastCluster - firstDropped, true);
        // Zero the tail of a partial last cluster so a later grow reads zeros there.
        if (newSize % cs !== 0) {
          await this.zeroUnlocked(newSize, Math.min(old, firstDropped * cs) - newSize, false);
        }
        // Free L2 tables that lie wholly past the new end.
        const keepTables = Math.ceil(newSize / (cs * this.l2Entries));
        for (let i = keepTables; i < this.l1.length; i++) {
          const offset = this.l1[i] as number;
          if (offset === 0) continue;
          this.l1[i] = 0;
          this.l1Copied[i] = 0;
          this.l1Dirty = true;
          this.refcounts.queueFree(offset, cs);
        }
        await this.writeBackMetadata();
        this.header.size = newSize;
        await this.writeHeader();
        this.bitmaps?.onResize(newSize);
        await this.truncateFreeTail();
        return;
      }
      const needed = Math.ceil(newSize / (this.clusterSize * this.l2Entries));
      if (needed > this.l1.length) await this.growL1(needed);
      if (this.header.backingFile !== null) {
        // Backing data must not show through the new area: make what the backing covers read zeros.
        const limit = this.backing ? Math.min(newSize, this.backing.virtualSize) : newSize;
        if (limit > old) {
          this.header.size = newSize;
          await this.zeroUnlocked(old, limit - old, false);
        }
      }
      await this.writeBackMetadata();
      this.header.size = newSize;
      await this.writeHeader();
      this.l2Cache.capacity = this.l2CacheTables(newSize);
      this.bitmaps?.onResize(newSize);
    });
  }

  /**
   * After a shrink, cuts the host file after its last cluster still in use, as qemu-img
   * resize --shrink does (clusters freed at the end would otherwise keep the file long).
   */
  private async truncateFreeTail(): Promise<void> {
    const fileClusters = Math.ceil((await this.file.size()) / this.clusterSize);
    const last = await this.refcounts.lastInUse(fileClusters);
    const end = (last + 1) * this.clusterSize;
    if (end < (await this.file.size())) {
      await this.file.truncate(end);
      await this.file.flush();
      this.refcounts.fileTruncated(last + 1);
    }
  }

  /** Moves the L1 table to a new place of `entries` entries (exactly that many, like QEMU's resize). */
  async growL1(entries: number): Promise<void> {
    if (entries * 8 > MAX_L1_BYTES) throw err('too-large', 'Active L1 table too large', this.file.path);
    await this.writeBackMetadata();
    const clusters = Math.ceil((entries * 8) / this.clusterSize);
    const offset = await this.refcounts.allocate(clusters);
    const oldOffset = this.header.l1TableOffset;
    const oldClusters = Math.ceil((this.l1.length * 8) / this.clusterSize);
    while (this.l1.length < entries) this.l1.push(0);
    const copied = new Uint8Array(entries);
    copied.set(this.l1Copied);
    this.l1Copied = copied;
    await this.refcounts.writeBack();
    this.header.l1TableOffset = offset;
    await this.file.flush();
    await this.writeL1();
    await this.file.flush();
    this.header.l1Size = entries;
    await this.writeHeader();
    if (oldOffset !== 0 && oldClusters > 0) {
      for (let c = 0; c < oldClusters; c++) await this.refcounts.adjust(oldOffset / this.clusterSize + c, -1);
    }
  }

  /**
   * Changes the recorded backing file (and its format) without touching guest data, as
   * `qemu-img rebase -u` does; `null` removes the backing file. Public API: callers that
   * rebase, pivot or commit use this instead of editing the header themselves. The backing
   * driver already attached to this image is not reopened: the new name takes effect on the
   * next open. Refused with an `ImageError` (and the file left unchanged) when the image is
   * read-only, the name is empty, or the name or the header would not fit in cluster 0.
   */
  async setBackingFile(name: string | null, format: ImageFormatName | null): Promise<void> {
    if (name !== null && name.length === 0)
      throw err('invalid-argument', 'Empty backing file name', this.file.path);
    await this.lock.exclusive(() =>
      this.rewriteHeader((header) => {
        header.backingFile = name;
        header.backingFormat = name === null ? null : format;
      }),
    );
  }

  /**
   * Drops every cluster of the active state so the image reads entirely from its backing
   * file again (what `qemu-img commit` does to the top image unless told to keep it).
   * Public API: clusters shared with internal snapshots keep their data for the snapshots;
   * the metadata is written back before the promise resolves. Refused with an `ImageError`
   * on a read-only image.
   */
  async makeEmpty(): Promise<void> {
    this.checkWritable();
    await this.lock.exclusive(async () => {
      const clusters = Math.ceil(this.header.size / this.clusterSize);
      await this.discardClusters(0, clusters, true);
      await this.writeBackMetadata();
    });
  }

  /**
   * Internal (create): gives every guest cluster an L2 entry and a host cluster without writing
   * data, table by table (the L2 table first, then its data clusters), and extends the file
   * over the last data cluster.
   */
  async preallocateMetadata(): Promise<void> {
    const cs = this.clusterSize;
    const clusters = Math.ceil(this.header.size / cs);
    let end = 0;
    for (let first = 0; first < clusters; first += this.l2Entries) {
      const table = await this.l2TableForWrite(first / this.l2Entries);
      const count = Math.min(this.l2Entries, clusters - first);
      const host = await this.refcounts.allocate(count);
      for (let i = 0; i < count; i++) setEntry(table.view, i, host + i * cs, true, false);
      this.l2Cache.markDirty(table);
      end = Math.max(end, host + count * cs);
      await this.maybeWriteBack();
    }
    await this.writeBackMetadata();
    if ((await this.file.size()) < end) await this.file.truncate(end);
  }

  // ---------------------------------------------------------------------------------------
  // Close and info

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.readOnly) {
        // Hooks run before the lock is taken so they may use the image's internal API freely.
        for (const hook of this.closeHooks) await hook(this);
        await this.lock.exclusive(async () => {
          await this.writeBackMetadata();
          if ((this.header.incompatibleFeatures & INCOMPAT_DIRTY) !== 0n) {
            this.header.incompatibleFeatures &= ~INCOMPAT_DIRTY;
            await this.writeHeader();
          }
        });
      }
    } finally {
      // Even when writing back failed, the handles are released (the error still surfaces).
      this.closed = true;
      await this.file.close();
      if (this.backing) await this.backing.close();
    }
  }

  /** Everything `qemu-img info` shows for this image. */
  async info(): Promise<Qcow2Info> {
    const h = this.header;
    return {
      format: 'qcow2',
      filename: this.file.path,
      virtualSize: h.size,
      actualSize: this.file.allocatedSize ? await this.file.allocatedSize() : await this.file.size(),
      clusterSize: this.clusterSize,
      compat: h.version === 2 ? '0.10' : '1.1',
      lazyRefcounts: (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n,
      refcountBits: 2 ** h.refcountOrder,
      corrupt: (h.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n,
      extendedL2: (h.incompatibleFeatures & INCOMPAT_EXTL2) !== 0n,
      compressionType: h.compressionType === 1 ? 'zstd' : 'zlib',
      dirty: (h.incompatibleFeatures & INCOMPAT_DIRTY) !== 0n,
      backingFilename: h.backingFile,
      backingFormat: h.backingFormat,
      dataFile: h.dataFile,
      snapshots: this.snapshots.map((s) => ({
        id: s.id,
        name: s.name,
        diskSize: s.diskSize ?? h.size,
        vmStateSize: s.vmStateSize,
        dateSeconds: s.dateSeconds,
        dateNanoseconds: s.dateNanoseconds,
        vmClockNs: s.vmClockNs,
        icount: s.icount,
      })),
      bitmaps: (this.bitmaps?.list() ?? [])
        .filter((b) => b.persistent)
        .map((b) => ({ name: b.name, granularity: b.granularity, flags: b.flags })),
    };
  }

  // ---------------------------------------------------------------------------------------
  // Internal API for the bitmaps and check modules (BitmapStorage)

  /** qcow2 version (2 or 3). */
  get version(): number {
    return this.header.version;
  }

  /** The bitmaps extension as currently valid in the header (autoclear bit 0 set), or null. */
  get bitmapsExtension(): BitmapDirectoryLocation | null {
    const b = this.header.bitmaps;
    if (!b || (this.header.autoclearFeatures & AUTOCLEAR_BITMAPS) === 0n) return null;
    return { nbBitmaps: b.nbBitmaps, directoryOffset: b.directoryOffset, directorySize: b.directorySize };
  }

  /** Internal: allocates `count` contiguous clusters with refcount 1; returns the first one's offset. */
  allocateClusters(count: number): Promise<number> {
    this.checkWritable();
    return this.refcounts.allocate(count);
  }

  /**
   * Internal: drops one reference from every cluster of [offset, offset+length) at once. Only
   * for clusters no on-disk metadata points at any more.
   */
  async freeClusters(offset: number, length: number): Promise<void> {
    this.checkWritable();
    await this.refcounts.adjustRange(offset, length, -1);
  }

  /** Internal: the refcount of the host cluster containing `offset`. */
  getRefcount(offset: number): Promise<number> {
    return this.refcounts.get(Math.floor(offset / this.clusterSize));
  }

  /** Internal: sets the refcount of the host cluster containing `offset` (repair tools). */
  setRefcount(offset: number, value: number): Promise<void> {
    this.checkWritable();
    return this.refcounts.set(Math.floor(offset / this.clusterSize), value);
  }

  /**
   * Internal: durably rewrites the header with this bitmaps extension and autoclear bit 0 set
   * (or, for null, without the extension and with the bit clear). Refcounts are written first.
   */
  async writeBitmapsExtension(location: BitmapDirectoryLocation | null): Promise<void> {
    await this.refcounts.writeBack();
    await this.file.flush();
    if (location) {
      this.header.bitmaps = { ...location, reserved: 0, raw: new Uint8Array(24) };
      this.header.autoclearFeatures |= AUTOCLEAR_BITMAPS;
    } else {
      this.header.bitmaps = null;
      this.header.autoclearFeatures &= ~AUTOCLEAR_BITMAPS;
    }
    await this.writeHeader();
  }

  /** Internal: visits every L2 table reachable from the active L1 table (L1 index, offset, table). */
  async forEachActiveL2(
    visit: (l1Index: number, offset: number, table: CachedTable) => Promise<void> | void,
  ): Promise<void> {
    for (let i = 0; i < this.l1.length; i++) {
      const offset = this.l1[i] as number;
      if (offset !== 0) await visit(i, offset, await this.l2Cache.get(offset));
    }
  }

  /** Internal: runs `fn` with the image's exclusive lock (for snapshot, bitmap and check code). */
  withExclusiveLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.exclusive(fn);
  }

  /** Internal: replaces the snapshot table (new clusters, one header switch, old table freed). */
  async writeSnapshotTable(entries: SnapshotEntry[]): Promise<void> {
    const raw = serializeSnapshotTable(entries);
    const oldOffset = this.header.snapshotsOffset;
    const oldSize = serializeSnapshotTable(this.snapshots).length;
    let offset = 0;
    if (entries.length > 0) {
      offset = await this.refcounts.allocate(Math.ceil(raw.length / this.clusterSize));
      await this.refcounts.writeBack();
      await this.file.write(raw, offset);
      await this.file.flush();
    }
    this.header.nbSnapshots = entries.length;
    this.header.snapshotsOffset = offset;
    await this.writeHeader();
    this.snapshots = entries;
    if (this.header.nbSnapshots >= 0 && oldOffset !== 0 && oldSize > 0) {
      const clusters = Math.ceil(oldSize / this.clusterSize);
      for (let c = 0; c < clusters; c++) await this.refcounts.adjust(oldOffset / this.clusterSize + c, -1);
    }
  }

  /** Internal: marks the in-memory L1 as needing a write. */
  markL1Dirty(): void {
    this.l1Dirty = true;
  }

  private checkRequest(offset: number, length: number): void {
    if (this.closed) throw err('closed', `'${this.file.path}' is closed`, this.file.path);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw err('invalid-argument', 'Invalid request offset or length', this.file.path);
    }
    if (offset + length > this.header.size) {
      throw err(
        'out-of-range',
        `Request [${offset}, ${offset + length}) is past the end of the image (${this.header.size})`,
        this.file.path,
      );
    }
  }

  private checkWritable(): void {
    if (this.closed) throw err('closed', `'${this.file.path}' is closed`, this.file.path);
    if (this.readOnly) throw err('read-only', `'${this.file.path}' is opened read-only`, this.file.path);
  }

  /**
   * Refuses an L2 entry whose host cluster is unaligned or lies past every cluster the image
   * can own, before it is written through or released (a hostile image must not make a
   * write extend the file to an arbitrary offset or a release underflow a refcount).
   */
  private checkEntry(hi: number, lo: number, kind: ClusterKind): void {
    const end = this.refcounts.clusterEnd * this.clusterSize;
    let offset = -1;
    if (kind === ClusterKind.Normal || kind === ClusterKind.ZeroAlloc) {
      offset = entryOffset(hi, lo);
      if (offset % this.clusterSize !== 0) {
        throw err('corrupt', `Cluster allocation offset 0x${offset.toString(16)} unaligned`, this.file.path);
      }
    } else if (kind === ClusterKind.Compressed) {
      offset = compressedLocation(hi, lo, this.clusterBits).offset;
    }
    if (offset >= end) {
      throw err(
        'corrupt',
        `Cluster offset 0x${offset.toString(16)} lies past the end of the image file`,
        this.file.path,
      );
    }
  }

  /** Refuses to write guest data over metadata (a hostile or corrupt image pointing data at it). */
  private checkNoMetadataOverlap(host: number, length: number): void {
    const h = this.header;
    const cs = this.clusterSize;
    const overlaps = (start: number, len: number) => len > 0 && host < start + len && start < host + length;
    const bad =
      overlaps(0, cs) ||
      overlaps(h.l1TableOffset, h.l1Size * 8) ||
      overlaps(h.refcountTableOffset, h.refcountTableClusters * cs) ||
      (h.nbSnapshots > 0 && overlaps(h.snapshotsOffset, cs)) ||
      this.overlapsCached(host, length);
    if (bad) {
      throw err(
        'corrupt',
        `Preventing invalid write on metadata (host offset 0x${host.toString(16)})`,
        this.file.path,
      );
    }
  }

  private overlapsCached(host: number, length: number): boolean {
    const cs = this.clusterSize;
    for (let c = Math.floor(host / cs) * cs; c < host + length; c += cs) {
      if (this.l2Cache.peek(c) || this.refcounts.cache.peek(c)) return true;
      if (this.refcounts.isBlockOffset(c)) return true;
    }
    return false;
  }
}

async function repairDirtyImage(
  file: ImageFile,
  repair: ((file: ImageFile) => Promise<void>) | undefined,
): Promise<void> {
  try {
    if (repair) {
      await repair(file);
    } else {
      // check pulls in the whole checker: only dirty images need it, so load it here.
      const { checkImage } = await import('./check.js');
      const result = await checkImage(file, { repair: 'all' });
      if (result.corruptions > 0 || result.checkErrors > 0) throw new Error(result.messages.join('; '));
    }
  } catch (cause) {
    throw new ImageError('corrupt', 'Could not repair dirty image', { path: file.path, cause });
  }
  const start = new Uint8Array(Math.min(await file.size(), 104));
  await file.read(start, 0);
  const cluster0 = new Uint8Array(Math.min(await file.size(), 2 ** peekClusterBits(start)));
  await file.read(cluster0, 0);
  const header = parseHeader(cluster0);
  header.incompatibleFeatures &= ~INCOMPAT_DIRTY;
  await file.write(serializeHeader(header), 0);
  await file.flush();
}

function appendExtent(out: BlockStatusExtent[], e: BlockStatusExtent): void {
  const last = out[out.length - 1];
  if (
    last &&
    last.status === e.status &&
    last.compressed === e.compressed &&
    last.offset + last.length === e.offset &&
    (last.hostOffset === undefined) === (e.hostOffset === undefined) &&
    (last.hostOffset === undefined || last.hostOffset + last.length === e.hostOffset)
  ) {
    last.length += e.length;
    return;
  }
  out.push(e);
}

function checkFeatures(h: Qcow2Header, readOnly: boolean, path: string): void {
  const unknown = h.incompatibleFeatures & ~INCOMPAT_KNOWN;
  if (unknown !== 0n) {
    throw err(
      'unsupported-feature',
      `Unsupported qcow2 feature(s): ${describeFeatures(h, 'incompatible', unknown)}`,
      path,
    );
  }
  if ((h.incompatibleFeatures & INCOMPAT_DATA_FILE) !== 0n || h.dataFile !== null) {
    throw err('unsupported-feature', 'Images with an external data file are not supported', path);
  }
  if ((h.incompatibleFeatures & INCOMPAT_EXTL2) !== 0n) {
    throw err('unsupported-feature', 'Unsupported qcow2 feature(s): extended L2 entries', path);
  }
  if (h.cryptoHeader !== null) throw err('encrypted', 'Encrypted qcow2 images are not supported', path);
  if (!readOnly && (h.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n) {
    throw err('corrupt', 'qcow2: Image is corrupt; cannot be opened read/write', path);
  }
}

async function loadL1(
  file: ImageFile,
  offset: number,
  size: number,
  clusterSize: number,
  fileSize: number,
): Promise<[number[], Uint8Array]> {
  const raw = new Uint8Array(size * 8);
  if (size > 0 && (await file.read(raw, offset)) < raw.length) {
    throw new ImageError('corrupt', 'Active L1 table lies past the end of the file', { path: file.path });
  }
  const view = new DataView(raw.buffer);
  const l1: number[] = new Array(size);
  const copied = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const hi = entryHi(view, i);
    const lo = entryLo(view, i);
    const l2 = entryOffset(hi, lo);
    if (
      l2 % clusterSize !== 0 ||
      l2 + (l2 === 0 ? 0 : clusterSize) > fileSize ||
      (l2 === 0 && isCopied(hi))
    ) {
      throw new ImageError(
        'corrupt',
        `L1 entry ${i} points at an invalid L2 table offset 0x${l2.toString(16)}`,
        {
          path: file.path,
        },
      );
    }
    if (l2 !== 0 && l2 < clusterSize) {
      throw new ImageError('corrupt', `L1 entry ${i} points into the image header`, { path: file.path });
    }
    l1[i] = l2;
    copied[i] = isCopied(hi) ? 1 : 0;
  }
  return [l1, copied];
}

function checkOverlaps(h: Qcow2Header, snapshots: SnapshotEntry[], clusterSize: number, path: string): void {
  const regions: Array<[string, number, number]> = [
    ['header', 0, clusterSize],
    ['refcount table', h.refcountTableOffset, h.refcountTableClusters * clusterSize],
  ];
  if (h.l1Size > 0) regions.push(['active L1 table', h.l1TableOffset, h.l1Size * 8]);
  if (h.nbSnapshots > 0) regions.push(['snapshot table', h.snapshotsOffset, 40]);
  for (const s of snapshots)
    if (s.l1Size > 0) regions.push([`snapshot '${s.name}' L1 table`, s.l1TableOffset, s.l1Size * 8]);
  for (let i = 0; i < regions.length; i++) {
    for (let j = i + 1; j < regions.length; j++) {
      const [an, as, al] = regions[i] as [string, number, number];
      const [bn, bs, bl] = regions[j] as [string, number, number];
      if (as < bs + bl && bs < as + al) throw err('corrupt', `The ${an} overlaps the ${bn}`, path);
    }
  }
}
