export { ImageError, type ImageErrorReason } from './errors.js';
export { HostFile, MemoryFile, type ImageFile, type OpenHostFileOptions } from './image-file.js';
export type { BlockStatusExtent, ImageDriver, ImageFormatName } from './driver.js';
export {
  DirtyBitmap,
  MAX_BITMAP_GRANULARITY,
  MIN_BITMAP_GRANULARITY,
  type DirtyBitmapOptions,
  type DirtyExtent,
} from './dirty-bitmap.js';
export { checkImage, type CheckOptions } from './qcow2/check-entry.js';
export {
  checkExitCode,
  formatCheckReport,
  toImageCheckJson,
  type CheckRepairMode,
  type CheckResult,
  type ImageCheckJson,
} from './qcow2/check-result.js';
export {
  PersistentBitmaps,
  type AddBitmapOptions,
  type BitmapDirectoryLocation,
  type BitmapInfo,
  type BitmapStorage,
} from './qcow2/bitmaps.js';
export {
  Qcow2Image,
  type CloseHook,
  type Qcow2Info,
  type Qcow2OpenOptions,
  type SnapshotInfo,
} from './qcow2/image.js';
export { createQcow2, type CreateQcow2Options } from './qcow2/create.js';
export {
  applySnapshot,
  createSnapshot,
  deleteSnapshot,
  listSnapshots,
  type CreateSnapshotOptions,
} from './qcow2/snapshot.js';
export { RawImage, createRaw } from './raw/raw-image.js';
export {
  DEFAULT_MAX_CHAIN_DEPTH,
  inspectImage,
  openImage,
  probeFormat,
  type ImageInspection,
  type OpenImageOptions,
} from './open.js';
export { chainBlockStatus, toQemuImgMap, type ChainMapEntry, type QemuImgMapEntry } from './chain-status.js';
