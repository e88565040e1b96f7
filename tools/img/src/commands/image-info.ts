import { dirname, isAbsolute, join } from 'node:path';
import type { ImageInfoRecord } from '../format/info.js';
import type { QemuJsonObject } from '../format/qemu-json.js';
import type { EngineImage, Qcow2Specific, SnapshotInfo } from '../engine/types.js';
import { allocatedFileSize } from './common.js';

/** Where a backing file name recorded in `overlay` points, as QEMU resolves it (relative to the overlay). */
export function resolveBackingPath(overlay: string, backing: string): string {
  if (isAbsolute(backing) || backing.includes(':')) return backing;
  return join(dirname(overlay), backing).replace(/^\.\//, '');
}

/** Gathers what `info` prints about one open image. */
export async function collectImageInfo(image: EngineImage, filename: string): Promise<ImageInfoRecord> {
  const record: ImageInfoRecord = {
    filename,
    format: image.format,
    virtualSize: image.virtualSize,
    actualSize: await allocatedFileSize(filename),
    dirtyFlag: image.dirty,
  };
  if (image.clusterSize !== undefined) record.clusterSize = image.clusterSize;
  if (image.backingFileName !== null) {
    record.backingFilename = image.backingFileName;
    record.fullBackingFilename = resolveBackingPath(filename, image.backingFileName);
    if (image.backingFormat !== null) record.backingFilenameFormat = image.backingFormat;
  }
  const snapshots = image.snapshots?.list() ?? [];
  if (snapshots.length > 0) record.snapshots = snapshots.map(snapshotToJson);
  const specific = image.formatSpecific();
  if (specific) record.formatSpecific = { type: 'qcow2', data: qcow2SpecificToJson(specific) };
  return record;
}

/** One snapshot as QEMU's SnapshotInfo. */
export function snapshotToJson(sn: SnapshotInfo): QemuJsonObject {
  return {
    id: sn.id,
    name: sn.name,
    'vm-state-size': sn.vmStateSize,
    'date-sec': sn.dateSec,
    'date-nsec': sn.dateNsec,
    'vm-clock-sec': Math.floor(sn.vmClockNsec / 1e9),
    'vm-clock-nsec': sn.vmClockNsec % 1e9,
    icount: sn.icount,
  };
}

/** qcow2's ImageInfoSpecificQCow2, with the fields QEMU omits for compat 0.10. */
export function qcow2SpecificToJson(s: Qcow2Specific): QemuJsonObject {
  const v3 = s.compat === '1.1';
  return {
    compat: s.compat,
    'compression-type': s.compressionType,
    'lazy-refcounts': v3 ? (s.lazyRefcounts ?? false) : undefined,
    bitmaps:
      s.bitmaps && s.bitmaps.length > 0
        ? s.bitmaps.map((b) => ({ flags: b.flags, name: b.name, granularity: b.granularity }))
        : undefined,
    'refcount-bits': s.refcountBits,
    corrupt: v3 ? (s.corrupt ?? false) : undefined,
    'extended-l2': v3 ? (s.extendedL2 ?? false) : undefined,
    'data-file': s.dataFile,
  };
}
