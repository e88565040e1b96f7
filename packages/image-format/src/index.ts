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
export { checkImage, type CheckOptions } from './qcow2/check.js';
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
