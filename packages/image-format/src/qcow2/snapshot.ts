import { ImageError } from '../errors.js';
import {
  ClusterKind,
  classify,
  compressedClusters,
  compressedLocation,
  entryHi,
  entryLo,
  entryOffset,
  isCopied,
  setEntry,
  setRawEntry,
} from './l2-entry.js';
import type { Qcow2Image, SnapshotInfo } from './image.js';
import type { SnapshotEntry } from './snapshot-table.js';

/** Internal snapshots of a qcow2 image, as `qemu-img snapshot -l` lists them. */
export async function listSnapshots(image: Qcow2Image): Promise<SnapshotInfo[]> {
  return (await image.info()).snapshots;
}

/** Finds a snapshot by id first, then by name (QEMU's lookup order). */
function find(image: Qcow2Image, nameOrId: string): SnapshotEntry {
  const found =
    image.snapshots.find((s) => s.id === nameOrId) ?? image.snapshots.find((s) => s.name === nameOrId);
  if (!found)
    throw new ImageError('not-found', `Snapshot '${nameOrId}' does not exist`, { path: image.filename });
  return found;
}

/** Options for {@link createSnapshot}. */
export interface CreateSnapshotOptions {
  /** Creation time (default now). */
  date?: Date;
  /** Guest clock at the snapshot, in nanoseconds (default 0: a disk-only snapshot). */
  vmClockNs?: number;
  /** Instruction count to record; -1 means "off". Default 0, as `qemu-img snapshot -c` records. */
  icount?: number;
}

/**
 * Takes an internal snapshot: copies the active L1 table, adds one reference to every L2
 * table and data cluster it reaches, clears COPIED where clusters became shared, then
 * writes a new snapshot table and switches the header to it in one write.
 */
export async function createSnapshot(
  image: Qcow2Image,
  name: string,
  options: CreateSnapshotOptions = {},
): Promise<SnapshotInfo> {
  checkWritable(image);
  if (name.length === 0 || new TextEncoder().encode(name).length > 65535) {
    throw new ImageError('invalid-argument', 'Invalid snapshot name', { path: image.filename });
  }
  return image.withExclusiveLock(async () => {
    if (image.snapshots.some((s) => s.name === name)) {
      throw new ImageError('exists', `Snapshot '${name}' already exists`, { path: image.filename });
    }
    if (image.refcounts.maxRefcount < 2) {
      throw new ImageError('invalid-argument', 'Snapshots need refcounts wider than 1 bit', {
        path: image.filename,
      });
    }
    await image.writeBackMetadata();
    const id = String(
      image.snapshots.reduce((max, s) => Math.max(max, Number.parseInt(s.id, 10) || 0), 0) + 1,
    );
    const l1Copy = image.l1.slice();
    await checkIncrementFits(image, l1Copy);
    const copiedCopy = Uint8Array.from(image.l1Copied);
    let l1Offset = 0;
    if (l1Copy.length > 0) {
      l1Offset = await image.refcounts.allocate(Math.ceil((l1Copy.length * 8) / image.clusterSize));
      await image.file.write(encodeL1(l1Copy, copiedCopy), l1Offset);
    }
    // Everything reachable becomes shared. Clear COPIED on disk before the refcounts rise:
    // a crash in between then leaves a flag too cautious (a needless copy on the next write),
    // never one that would let a write overwrite a cluster the snapshot still needs.
    await clearCopiedFlags(image);
    await image.writeBackMetadata();
    await adjustTree(image, l1Copy, 1);
    await image.writeBackMetadata();
    const date = options.date ?? new Date();
    const ms = date.getTime();
    const entry: SnapshotEntry = {
      l1TableOffset: l1Offset,
      l1Size: l1Copy.length,
      id,
      name,
      dateSeconds: Math.floor(ms / 1000),
      dateNanoseconds: (ms % 1000) * 1_000_000,
      vmClockNs: options.vmClockNs ?? 0,
      vmStateSize: 0,
      diskSize: image.virtualSize,
      icount: options.icount ?? 0,
      unknownExtra: new Uint8Array(0),
    };
    await image.writeSnapshotTable([...image.snapshots, entry]);
    await image.writeBackMetadata();
    return (await image.info()).snapshots.find((s) => s.id === id) as SnapshotInfo;
  });
}

/**
 * Reverts the active state to a snapshot: references everything the snapshot reaches, makes
 * its L1 the active one, drops the old active references, and recomputes COPIED flags.
 */
export async function applySnapshot(image: Qcow2Image, nameOrId: string): Promise<void> {
  checkWritable(image);
  await image.withExclusiveLock(async () => {
    const snapshot = find(image, nameOrId);
    await image.writeBackMetadata();
    const snapL1 = await readL1(image, snapshot);
    await checkIncrementFits(image, snapL1);
    await adjustTree(image, snapL1, 1);
    if (snapL1.length > image.l1.length) await image.growL1(snapL1.length);
    const oldL1 = image.l1.slice();
    for (let i = 0; i < image.l1.length; i++) {
      image.l1[i] = snapL1[i] ?? 0;
      image.l1Copied[i] = 0;
    }
    image.markL1Dirty();
    await image.writeBackMetadata();
    await adjustTree(image, oldL1, -1);
    await rebuildCopiedFlags(image);
    await image.writeBackMetadata();
    if (snapshot.diskSize !== null && snapshot.diskSize !== image.header.size) {
      image.header.size = snapshot.diskSize;
      await image.writeHeader();
    }
  });
}

/**
 * Deletes a snapshot: the table without it is written first (a crash then only leaks), then
 * the snapshot's references and L1 copy are released and COPIED flags recomputed.
 */
export async function deleteSnapshot(image: Qcow2Image, nameOrId: string): Promise<void> {
  checkWritable(image);
  await image.withExclusiveLock(async () => {
    const snapshot = find(image, nameOrId);
    await image.writeBackMetadata();
    const snapL1 = await readL1(image, snapshot);
    await image.writeSnapshotTable(image.snapshots.filter((s) => s !== snapshot));
    await adjustTree(image, snapL1, -1);
    const clusters = Math.ceil((snapshot.l1Size * 8) / image.clusterSize);
    for (let c = 0; c < clusters; c++)
      await image.refcounts.adjust(snapshot.l1TableOffset / image.clusterSize + c, -1);
    await rebuildCopiedFlags(image);
    await image.writeBackMetadata();
  });
}

function checkWritable(image: Qcow2Image): void {
  if (image.readOnly)
    throw new ImageError('read-only', `'${image.filename}' is opened read-only`, { path: image.filename });
}

function encodeL1(l1: number[], copied: Uint8Array): Uint8Array {
  const raw = new Uint8Array(l1.length * 8);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < l1.length; i++) setEntry(view, i, l1[i] as number, copied[i] === 1, false);
  return raw;
}

/** Reads a snapshot's L1 table (offsets only), validating each entry. */
export async function readL1(image: Qcow2Image, snapshot: SnapshotEntry): Promise<number[]> {
  const raw = new Uint8Array(snapshot.l1Size * 8);
  if ((await image.file.read(raw, snapshot.l1TableOffset)) < raw.length) {
    throw new ImageError('corrupt', `Snapshot '${snapshot.name}' L1 table lies past the end of the file`, {
      path: image.filename,
    });
  }
  const view = new DataView(raw.buffer);
  const out: number[] = [];
  for (let i = 0; i < snapshot.l1Size; i++) {
    const offset = entryOffset(entryHi(view, i), entryLo(view, i));
    if (offset % image.clusterSize !== 0) {
      throw new ImageError('corrupt', `Snapshot '${snapshot.name}' L1 entry ${i} is unaligned`, {
        path: image.filename,
      });
    }
    out.push(offset);
  }
  return out;
}

/**
 * Refuses (before changing anything) a snapshot operation whose extra references would not
 * fit in the image's refcount width, as QEMU fails with a refcount overflow.
 */
async function checkIncrementFits(image: Qcow2Image, l1: number[]): Promise<void> {
  const extra = new Map<number, number>();
  const add = (cluster: number) => extra.set(cluster, (extra.get(cluster) ?? 0) + 1);
  for (const l2Offset of l1) {
    if (l2Offset === 0) continue;
    add(l2Offset / image.clusterSize);
    const table = await image.l2Cache.get(l2Offset);
    for (let i = 0; i < image.l2Entries; i++) {
      const hi = entryHi(table.view, i);
      const lo = entryLo(table.view, i);
      const kind = classify(hi, lo, image.v3);
      if (kind === ClusterKind.Normal || kind === ClusterKind.ZeroAlloc) {
        add(entryOffset(hi, lo) / image.clusterSize);
      } else if (kind === ClusterKind.Compressed) {
        const [a, b] = compressedClusters(compressedLocation(hi, lo, image.clusterBits), image.clusterBits);
        for (let c = a; c <= b; c++) add(c);
      }
    }
  }
  for (const [cluster, n] of extra) {
    if ((await image.refcounts.get(cluster)) + n > image.refcounts.maxRefcount) {
      throw new ImageError(
        'invalid-argument',
        `Refcount overflow: cluster ${cluster} cannot take ${n} more reference(s) in ${image.refcounts.refcountOrder === 6 ? 64 : 2 ** image.refcounts.refcountOrder} bits`,
        { path: image.filename },
      );
    }
  }
}

/** Adds `delta` to the refcount of every L2 table and host cluster reachable from an L1 table. */
async function adjustTree(image: Qcow2Image, l1: number[], delta: number): Promise<void> {
  for (const l2Offset of l1) {
    if (l2Offset === 0) continue;
    const table = await image.l2Cache.get(l2Offset);
    // Copy the entries first: dropping the table's last reference evicts it from the cache.
    const view = new DataView(table.data.slice().buffer);
    for (let i = 0; i < image.l2Entries; i++) {
      const hi = entryHi(view, i);
      const lo = entryLo(view, i);
      const kind = classify(hi, lo, image.v3);
      if (kind === ClusterKind.Normal || kind === ClusterKind.ZeroAlloc) {
        await image.refcounts.adjust(entryOffset(hi, lo) / image.clusterSize, delta);
      } else if (kind === ClusterKind.Compressed) {
        const [a, b] = compressedClusters(compressedLocation(hi, lo, image.clusterBits), image.clusterBits);
        for (let c = a; c <= b; c++) await image.refcounts.adjust(c, delta);
      }
    }
    await image.refcounts.adjust(l2Offset / image.clusterSize, delta);
  }
}

/** Clears COPIED on every active L1 entry and every L2 entry of the active tables. */
async function clearCopiedFlags(image: Qcow2Image): Promise<void> {
  for (let i = 0; i < image.l1.length; i++) {
    const l2Offset = image.l1[i] as number;
    if (l2Offset === 0) continue;
    if (image.l1Copied[i] !== 0) {
      image.l1Copied[i] = 0;
      image.markL1Dirty();
    }
    const table = await image.l2Cache.get(l2Offset);
    let changed = false;
    for (let j = 0; j < image.l2Entries; j++) {
      const hi = entryHi(table.view, j);
      if (isCopied(hi)) {
        setRawEntry(table.view, j, hi & 0x7fffffff, entryLo(table.view, j));
        changed = true;
      }
    }
    if (changed) image.l2Cache.markDirty(table);
  }
}

/** Sets COPIED on every active L1 and L2 entry whose cluster has refcount 1, and clears it elsewhere. */
export async function rebuildCopiedFlags(image: Qcow2Image): Promise<void> {
  for (let i = 0; i < image.l1.length; i++) {
    const l2Offset = image.l1[i] as number;
    if (l2Offset === 0) continue;
    const tableCopied = (await image.refcounts.get(l2Offset / image.clusterSize)) === 1 ? 1 : 0;
    if (image.l1Copied[i] !== tableCopied) {
      image.l1Copied[i] = tableCopied;
      image.markL1Dirty();
    }
    const table = await image.l2Cache.get(l2Offset);
    let changed = false;
    for (let j = 0; j < image.l2Entries; j++) {
      const hi = entryHi(table.view, j);
      const lo = entryLo(table.view, j);
      const kind = classify(hi, lo, image.v3);
      if (kind !== ClusterKind.Normal && kind !== ClusterKind.ZeroAlloc) continue;
      const single = (await image.refcounts.get(entryOffset(hi, lo) / image.clusterSize)) === 1;
      if (single !== isCopied(hi)) {
        setRawEntry(table.view, j, single ? hi | 0x80000000 : hi & 0x7fffffff, lo);
        changed = true;
      }
    }
    if (changed) image.l2Cache.markDirty(table);
  }
}
