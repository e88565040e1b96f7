import { ImageError } from '../errors.js';
import { HostFile, type ImageFile } from '../image-file.js';
import { parseBitmapDirectory } from './bitmaps-directory.js';
import { countBitmapReferences } from './check-bitmaps.js';
import { StoredRefcounts } from './check-refcounts.js';
import type { CheckRepairMode, CheckResult } from './check-result.js';
import { rebuildRefcountStructure } from './check-rebuild.js';
import { readSnapshotTableForCheck } from './check-snapshots.js';
import {
  INCOMPAT_CORRUPT,
  INCOMPAT_DATA_FILE,
  INCOMPAT_DIRTY,
  INCOMPAT_EXTL2,
  INCOMPAT_KNOWN,
  L1E_OFFSET_MASK,
  L2E_OFFSET_MASK,
  MAX_L1_BYTES,
  OFLAG_COMPRESSED,
  OFLAG_COPIED,
  OFLAG_ZERO,
  REFT_OFFSET_MASK,
  V2_HEADER_LENGTH,
} from './constants.js';
import { parseHeader, peekClusterBits, type Qcow2Header } from './header.js';

/** Options for {@link checkImage}. */
export interface CheckOptions {
  /** Repair what was found: `leaks` frees leaked clusters; `all` also raises low refcounts and fixes COPIED flags. */
  repair?: CheckRepairMode;
}

const L1E_RESERVED_MASK = 0x7f000000000001ffn;
const L2E_STD_RESERVED_MASK = 0x3f000000000001fen;
// Upper bound on L1 and L2 entries one check visits. Real images stay far below it
// (2^28 entries is 2 GiB of tables); a hostile one with many snapshots sharing huge
// tables would otherwise keep the check busy for hours.
const MAX_VISITED_ENTRIES = 2 ** 28;

/**
 * Checks a qcow2 image the way `qemu-img check` does: walks the header, the active and
 * snapshot L1/L2 tables, the snapshot table, the refcount table and blocks and the bitmap
 * directory, counts the references to every host cluster, and compares them with the
 * stored refcounts and COPIED flags. Read-only unless `repair` is given. With repair, the
 * image is repaired and checked again; the result then describes the repaired image, with
 * what was fixed in `leaksFixed` / `corruptionsFixed` (as qemu-img reports it).
 */
export async function checkImage(
  target: ImageFile | string,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const repair = options.repair;
  const file =
    typeof target === 'string' ? await HostFile.open(target, { readOnly: repair === undefined }) : target;
  try {
    if (repair !== undefined && file.readOnly) {
      throw new ImageError('read-only', `Cannot repair '${file.path}': it is opened read-only`, {
        path: file.path,
      });
    }
    const first = await new CheckRun(file, repair).run();
    if (
      repair === undefined ||
      first.failure !== undefined ||
      first.leaksFixed + first.corruptionsFixed === 0
    ) {
      return first;
    }
    await file.flush();
    const second = await new CheckRun(file, undefined).run();
    return {
      ...second,
      leaksFixed: first.leaksFixed,
      corruptionsFixed: first.corruptionsFixed,
      messages: [...first.messages, ...second.messages],
    };
  } finally {
    if (typeof target === 'string') await file.close();
  }
}

/** Reads and parses cluster 0, refusing what check cannot interpret. */
export async function readHeaderForCheck(file: ImageFile): Promise<Qcow2Header> {
  const start = new Uint8Array(V2_HEADER_LENGTH);
  await file.read(start, 0);
  const clusterBits = peekClusterBits(start);
  const cluster0 = new Uint8Array(Math.min(1 << clusterBits, await file.size()));
  await file.read(cluster0, 0);
  const header = parseHeader(cluster0);
  const unknown = header.incompatibleFeatures & ~INCOMPAT_KNOWN;
  if (unknown !== 0n) {
    throw new ImageError('unsupported-feature', `Unsupported qcow2 feature(s): 0x${unknown.toString(16)}`);
  }
  if ((header.incompatibleFeatures & INCOMPAT_EXTL2) !== 0n) {
    throw new ImageError('unsupported-feature', 'Checking images with extended L2 entries is not supported');
  }
  if ((header.incompatibleFeatures & INCOMPAT_DATA_FILE) !== 0n) {
    throw new ImageError(
      'unsupported-feature',
      'Checking images with an external data file is not supported',
    );
  }
  return header;
}

/** One pass over the image: count references, compare, optionally repair. */
class CheckRun {
  private header!: Qcow2Header;
  private clusterBits = 0;
  private clusterSize = 0;
  private fileSize = 0;
  private refs = new Uint32Array(0);
  private stored!: StoredRefcounts;
  private visited = 0;
  private nbClusters = 0;
  private readonly result: CheckResult;
  private readonly fixLeaks: boolean;
  private readonly fixErrors: boolean;

  constructor(
    private readonly file: ImageFile,
    repair: CheckRepairMode | undefined,
  ) {
    this.fixLeaks = repair !== undefined;
    this.fixErrors = repair === 'all';
    this.result = {
      filename: file.path,
      format: 'qcow2',
      checkErrors: 0,
      corruptions: 0,
      leaks: 0,
      corruptionsFixed: 0,
      leaksFixed: 0,
      imageEndOffset: 0,
      totalClusters: 0,
      allocatedClusters: 0,
      fragmentedClusters: 0,
      compressedClusters: 0,
      messages: [],
    };
  }

  async run(): Promise<CheckResult> {
    await this.load();
    let rebuild = await this.countReferences();
    const before = this.snapshotCounters();
    let outcome = await this.compare({ leaks: false, errors: false });
    rebuild ||= outcome.rebuild;
    if (rebuild && this.fixErrors) {
      outcome = await this.rebuildAndRecount();
    } else if (this.fixLeaks) {
      if (rebuild) {
        // QEMU gives up here (only -r all rebuilds the refcount structure); so does this check.
        this.message('ERROR need to rebuild refcount structures');
        this.result.checkErrors++;
        this.result.failure = 'Input/output error';
        return this.result;
      }
      if (this.result.leaks > 0 || this.result.corruptions > 0) {
        this.restoreCounters(before);
        outcome = await this.compare({ leaks: this.fixLeaks, errors: this.fixErrors });
      }
    }
    await this.checkCopiedFlags();
    this.result.imageEndOffset = (outcome.highestCluster + 1) * this.clusterSize;
    if (this.fixLeaks && this.result.checkErrors === 0 && this.result.corruptions === 0) {
      await this.markClean();
    }
    return this.result;
  }

  /** Reads the header and refcount table and sizes the reference counters for the file. */
  private async load(): Promise<void> {
    const h = await readHeaderForCheck(this.file);
    this.header = h;
    this.clusterBits = h.clusterBits;
    this.clusterSize = 1 << h.clusterBits;
    this.fileSize = await this.file.size();
    this.nbClusters = Math.ceil(this.fileSize / this.clusterSize);
    if (this.nbClusters > 0x7fffffff) {
      // QEMU refuses the same (EFBIG); counting that many clusters would not fit in memory.
      throw new ImageError(
        'too-large',
        `The image file has too many clusters to check (${this.nbClusters})`,
        {
          path: this.file.path,
        },
      );
    }
    this.refs = new Uint32Array(this.nbClusters + 1);
    this.visited = 0;
    this.result.totalClusters = Math.ceil(h.size / this.clusterSize);
    this.stored = await StoredRefcounts.load(
      this.file,
      h.clusterBits,
      h.refcountOrder,
      h.refcountTableOffset,
      (h.refcountTableClusters * this.clusterSize) / 8,
    );
  }

  /**
   * Writes a new refcount structure from the counted references, then counts again over
   * it, as QEMU does for `-r all`: the old table and blocks show up as leaks of the new
   * structure and are freed, and the counters say what the rebuild fixed.
   */
  private async rebuildAndRecount(): Promise<{ highestCluster: number; rebuild: boolean }> {
    this.message('Rebuilding refcount structure');
    const old = this.snapshotCounters();
    await rebuildRefcountStructure(this.file, this.clusterBits, this.header.refcountOrder, this.refs);
    this.result.corruptions = 0;
    this.result.leaks = 0;
    await this.load();
    await this.countReferences();
    const recounted = { ...this.result, messages: undefined };
    this.result.corruptions = 0;
    this.result.leaks = 0;
    this.result.checkErrors = 0;
    const outcome = await this.compare({ leaks: true, errors: false });
    if (outcome.rebuild) this.message('ERROR rebuilt refcount structure is still broken');
    const freshLeaks = this.result.leaks;
    // The fresh comparison's own counters are dropped, as QEMU drops them; what the rebuild
    // fixed is what it no longer finds.
    this.result.corruptions = recounted.corruptions;
    this.result.leaks = recounted.leaks;
    this.result.checkErrors = recounted.checkErrors;
    this.result.leaksFixed = recounted.leaksFixed;
    this.result.corruptionsFixed = recounted.corruptionsFixed;
    if (this.result.corruptions < old.corruptions)
      this.result.corruptionsFixed += old.corruptions - this.result.corruptions;
    if (this.result.leaks < old.leaks) this.result.leaksFixed += old.leaks - this.result.leaks;
    this.result.leaks += freshLeaks;
    return outcome;
  }

  // --- counting references ----------------------------------------------------------------

  /** Fills `refs` with the expected refcount of every cluster; returns whether the refcount structure itself is broken. */
  private async countReferences(): Promise<boolean> {
    const h = this.header;
    this.reference(0, this.clusterSize);
    await this.walkL1(h.l1TableOffset, h.l1Size, true);

    const table = await readSnapshotTableForCheck(this.file, h.snapshotsOffset, h.nbSnapshots, this.fileSize);
    for (const sn of table.snapshots) {
      if (sn.l1Offset % this.clusterSize !== 0) {
        this.corruption(
          `ERROR snapshot ${sn.id} (${sn.name}) l1_offset=${hashHex(sn.l1Offset)}: L1 table is not cluster aligned; snapshot table entry corrupted`,
        );
        continue;
      }
      if (sn.l1Size > MAX_L1_BYTES / 8) {
        this.corruption(
          `ERROR snapshot ${sn.id} (${sn.name}) l1_size=${hashHex(sn.l1Size)}: L1 table is too large; snapshot table entry corrupted`,
        );
        continue;
      }
      await this.walkL1(sn.l1Offset, sn.l1Size, false);
    }
    this.reference(h.snapshotsOffset, table.tableBytes);
    this.reference(h.refcountTableOffset, h.refcountTableClusters * this.clusterSize);
    if (h.bitmaps) {
      const { directoryOffset, directorySize, nbBitmaps } = h.bitmaps;
      this.reference(directoryOffset, directorySize);
      const bytes = new Uint8Array(directorySize);
      await this.file.read(bytes, directoryOffset);
      const entries = parseBitmapDirectory(bytes, nbBitmaps, {
        clusterSize: this.clusterSize,
        virtualSize: h.size,
        fileSize: this.fileSize,
      });
      await countBitmapReferences(this.file, entries, this.clusterSize, {
        reference: (offset, length) => this.reference(offset, length),
        corruption: (message) => this.corruption(message),
      });
    }
    return this.countRefcountBlocks();
  }

  private async walkL1(offset: number, entries: number, active: boolean): Promise<void> {
    if (entries === 0) return;
    this.spend(entries);
    this.reference(offset, entries * 8);
    const l1 = await this.readTable(offset, entries);
    for (let i = 0; i < entries; i++) {
      const entry = l1[i]!;
      if (entry === 0n) continue;
      if ((entry & L1E_RESERVED_MASK) !== 0n) {
        this.corruption(`ERROR found L1 entry with reserved bits set: ${entry.toString(16)}`);
      }
      const l2Offset = Number(entry & L1E_OFFSET_MASK);
      this.reference(l2Offset, this.clusterSize);
      if (l2Offset % this.clusterSize !== 0) {
        this.corruption(
          `ERROR l2_offset=${l2Offset.toString(16)}: Table is not cluster aligned; L1 entry corrupted`,
        );
      }
      await this.walkL2(l2Offset, active);
    }
  }

  private async walkL2(offset: number, active: boolean): Promise<void> {
    const entries = this.clusterSize / 8;
    this.spend(entries);
    const l2 = await this.readTable(offset, entries);
    const csizeShift = 62 - (this.clusterBits - 8);
    const csizeMask = (1n << BigInt(this.clusterBits - 8)) - 1n;
    const coffsetMask = (1n << BigInt(csizeShift)) - 1n;
    let nextContiguous = 0;
    for (let i = 0; i < entries; i++) {
      let entry = l2[i]!;
      if (entry === 0n) continue;
      if ((entry & OFLAG_COMPRESSED) !== 0n) {
        if ((entry & OFLAG_COPIED) !== 0n) {
          this.corruption(
            `ERROR: coffset=0x${(entry & coffsetMask).toString(16)}: copied flag must never be set for compressed clusters`,
          );
          entry &= ~OFLAG_COPIED;
        }
        const coffset = Number(entry & coffsetMask);
        const sectors = Number((entry >> BigInt(csizeShift)) & csizeMask) + 1;
        this.reference(coffset, sectors * 512 - (coffset & 511));
        if (active) {
          this.result.allocatedClusters++;
          this.result.compressedClusters++;
          // Compressed clusters share host sectors, so QEMU counts each as fragmented.
          this.result.fragmentedClusters++;
        }
        continue;
      }
      if ((entry & L2E_STD_RESERVED_MASK) !== 0n) {
        this.corruption(`ERROR found l2 entry with reserved bits set: ${entry.toString(16)}`);
      }
      const hostOffset = Number(entry & L2E_OFFSET_MASK);
      if (hostOffset === 0) continue; // unallocated, or a plain zero cluster
      if (hostOffset % this.clusterSize !== 0) {
        if ((entry & OFLAG_ZERO) !== 0n) {
          this.corruption(
            `ERROR offset=${hostOffset.toString(16)}: Preallocated cluster is not properly aligned; L2 entry corrupted.`,
          );
        } else {
          this.corruption(
            `ERROR offset=${hostOffset.toString(16)}: Data cluster is not properly aligned; L2 entry corrupted.`,
          );
        }
      }
      if (active) {
        this.result.allocatedClusters++;
        if (nextContiguous !== 0 && hostOffset !== nextContiguous) this.result.fragmentedClusters++;
        nextContiguous = hostOffset + this.clusterSize;
      }
      this.reference(hostOffset, this.clusterSize);
    }
  }

  /** Counts each refcount block once; returns whether the refcount table needs a rebuild. */
  private async countRefcountBlocks(): Promise<boolean> {
    let rebuild = false;
    const table = this.stored.table;
    for (let i = 0; i < table.length; i++) {
      const entry = table[i]!;
      if ((entry & 0x1ffn) !== 0n) {
        this.corruption(`ERROR refcount table entry ${i} has reserved bits set`);
        rebuild = true;
        continue;
      }
      const offset = Number(entry);
      if (offset % this.clusterSize !== 0) {
        this.corruption(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`);
        rebuild = true;
        continue;
      }
      const cluster = offset / this.clusterSize;
      if (cluster >= this.nbClusters) {
        this.corruption(`ERROR refcount block ${i} is outside image`);
        rebuild = true;
        continue;
      }
      if (offset === 0) continue;
      this.reference(offset, this.clusterSize);
      if (this.refs[cluster] !== 1) {
        this.corruption(`ERROR refcount block ${i} refcount=${this.refs[cluster]}`);
        rebuild = true;
      }
    }
    return rebuild;
  }

  /**
   * Adds one reference to every cluster that [offset, offset+length) touches. Like QEMU, a
   * range may end less than a cluster past the end of the file (the last cluster of an
   * image need not be complete); anything further is a corruption.
   */
  private reference(offset: number, length: number): void {
    if (length <= 0) return;
    if (offset + length - this.fileSize >= this.clusterSize) {
      this.corruption(
        `ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x${offset.toString(16)} size 0x${length.toString(16)}`,
      );
      return;
    }
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.floor((offset + length - 1) / this.clusterSize);
    const max = Number(this.stored.maxRefcount);
    for (let k = first; k <= last; k++) {
      const current = this.refs[k]!;
      if (current >= max || current === 0xffffffff) {
        this.corruption(`ERROR: overflow cluster offset=0x${(k * this.clusterSize).toString(16)}`);
        this.message(
          'Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean copy if the image cannot be opened for writing',
        );
        continue;
      }
      this.refs[k] = current + 1;
    }
  }

  // --- comparing and repairing ------------------------------------------------------------

  /**
   * Compares stored refcounts with the counted references. With `repair`, leaked clusters
   * (`leaks`) and refcounts that are too low (`errors`) are corrected in their refcount
   * block; a stored refcount of zero for a referenced cluster needs a rebuild instead.
   */
  private async compare(repair: {
    leaks: boolean;
    errors: boolean;
  }): Promise<{ highestCluster: number; rebuild: boolean }> {
    let highestCluster = 0;
    let rebuild = false;
    // References may reach into the (partial) cluster after the end of the file.
    const end = this.refs[this.nbClusters] !== 0 ? this.nbClusters + 1 : this.nbClusters;
    const perBlock = this.stored.clustersPerBlock;
    let signalled = false;
    let readable = false;
    for (let i = 0; i < end; i++) {
      if (i % perBlock === 0 || i === 0) {
        readable = this.stored.readable(i);
        if (readable) await this.stored.prepare(i);
      }
      if (!readable) {
        // QEMU cannot read refcounts through a misaligned block pointer: it marks the image
        // corrupt once and counts every cluster of the block as a check error.
        if (!signalled) {
          const index = this.stored.tableIndex(i);
          const offset = this.stored.table[index]! & REFT_OFFSET_MASK;
          this.message(
            `qcow2: Image is corrupt: Refblock offset 0x${offset.toString(16)} unaligned (reftable index: ${hashHex(index)}); further non-fatal corruption events will be suppressed`,
          );
          signalled = true;
        }
        this.message(`Can't get refcount for cluster ${i}: Input/output error`);
        this.result.checkErrors++;
        continue;
      }
      const stored = this.stored.getLoaded(i);
      const expected = BigInt(this.refs[i]!);
      if (stored > 0n || expected > 0n) highestCluster = i;
      if (stored === expected) continue;
      let fixed: 'leaksFixed' | 'corruptionsFixed' | null = null;
      if (stored === 0n) rebuild = true;
      else if (stored > expected && repair.leaks) fixed = 'leaksFixed';
      else if (stored < expected && repair.errors) fixed = 'corruptionsFixed';
      const verb = fixed ? 'Repairing' : stored < expected ? 'ERROR' : 'Leaked';
      this.message(`${verb} cluster ${i} refcount=${stored} reference=${expected}`);
      if (fixed && (await this.stored.set(i, expected))) {
        this.result[fixed]++;
        continue;
      }
      if (stored < expected) this.result.corruptions++;
      else this.result.leaks++;
    }
    return { highestCluster, rebuild };
  }

  /** COPIED must be set exactly on entries (of the active tables) whose cluster has refcount 1. */
  private async checkCopiedFlags(): Promise<void> {
    const r = this.result;
    const repair =
      this.fixErrors || (this.fixLeaks && r.checkErrors === 0 && r.corruptions === 0 && r.leaks === 0);
    const h = this.header;
    if (h.l1Size === 0) return;
    const l1 = await this.readTable(h.l1TableOffset, h.l1Size);
    const l1Bytes = new Uint8Array(8);
    const l1View = new DataView(l1Bytes.buffer);
    for (let i = 0; i < h.l1Size; i++) {
      const l1Entry = l1[i]!;
      const l2Offset = Number(l1Entry & L1E_OFFSET_MASK);
      if (l2Offset === 0) continue;
      const l2Cluster = Math.floor(l2Offset / this.clusterSize);
      // An unreadable refcount was reported already; QEMU skips such entries silently.
      if (!this.stored.readable(l2Cluster)) continue;
      const refcount = await this.stored.get(l2Cluster);
      if ((refcount === 1n) !== ((l1Entry & OFLAG_COPIED) !== 0n)) {
        this.message(
          `${repair ? 'Repairing' : 'ERROR'} OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${l1Entry.toString(16)} refcount=${refcount}`,
        );
        if (repair) {
          l1View.setBigUint64(0, refcount === 1n ? l1Entry | OFLAG_COPIED : l1Entry & ~OFLAG_COPIED);
          await this.file.write(l1Bytes, h.l1TableOffset + i * 8);
          r.corruptionsFixed++;
        } else r.corruptions++;
      }
      const entries = this.clusterSize / 8;
      const l2Bytes = new Uint8Array(this.clusterSize);
      await this.file.read(l2Bytes, l2Offset);
      const l2View = new DataView(l2Bytes.buffer);
      let dirty = false;
      for (let j = 0; j < entries; j++) {
        const entry = l2View.getBigUint64(j * 8);
        if ((entry & OFLAG_COMPRESSED) !== 0n) continue;
        const dataOffset = Number(entry & L2E_OFFSET_MASK);
        if (dataOffset === 0) continue;
        const dataCluster = Math.floor(dataOffset / this.clusterSize);
        if (!this.stored.readable(dataCluster)) continue;
        const dataRefcount = await this.stored.get(dataCluster);
        if ((dataRefcount === 1n) === ((entry & OFLAG_COPIED) !== 0n)) continue;
        this.message(
          `${repair ? 'Repairing' : 'ERROR'} OFLAG_COPIED data cluster: l2_entry=${entry.toString(16)} refcount=${dataRefcount}`,
        );
        if (repair) {
          l2View.setBigUint64(j * 8, dataRefcount === 1n ? entry | OFLAG_COPIED : entry & ~OFLAG_COPIED);
          dirty = true;
          r.corruptionsFixed++;
        } else r.corruptions++;
      }
      if (dirty) await this.file.write(l2Bytes, l2Offset);
    }
  }

  /** After a successful repair the dirty and corrupt bits no longer apply (QEMU clears them too). */
  private async markClean(): Promise<void> {
    const h = this.header;
    if (h.version !== 3) return;
    const cleared = h.incompatibleFeatures & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT);
    if (cleared === h.incompatibleFeatures) return;
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, cleared);
    await this.file.write(bytes, 72);
    await this.file.flush();
  }

  // --- helpers ----------------------------------------------------------------------------

  private async readTable(offset: number, entries: number): Promise<BigUint64Array> {
    const bytes = new Uint8Array(entries * 8);
    await this.file.read(bytes, offset);
    const view = new DataView(bytes.buffer);
    const table = new BigUint64Array(entries);
    for (let i = 0; i < entries; i++) table[i] = view.getBigUint64(i * 8);
    return table;
  }

  private spend(entries: number): void {
    this.visited += entries;
    if (this.visited > MAX_VISITED_ENTRIES) {
      throw new ImageError('too-large', 'The image has more L1/L2 metadata than check visits');
    }
  }

  private corruption(message: string): void {
    this.result.corruptions++;
    this.message(message);
  }

  private message(text: string): void {
    this.result.messages.push(text);
  }

  private snapshotCounters(): Pick<CheckResult, 'corruptions' | 'leaks' | 'checkErrors'> {
    const { corruptions, leaks, checkErrors } = this.result;
    return { corruptions, leaks, checkErrors };
  }

  private restoreCounters(saved: Pick<CheckResult, 'corruptions' | 'leaks' | 'checkErrors'>): void {
    Object.assign(this.result, saved);
  }
}

/** C's `%#x`: hexadecimal with a 0x prefix, except for zero. */
function hashHex(value: number): string {
  return value === 0 ? '0' : `0x${value.toString(16)}`;
}
