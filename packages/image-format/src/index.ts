export { ImageError, type ImageErrorReason } from './errors.js';
export { HostFile, MemoryFile, type ImageFile, type OpenHostFileOptions } from './image-file.js';
export type { BlockStatusExtent, ImageDriver, ImageFormatName } from './driver.js';
