import { DirtyBitmap } from '@strata/image-format';
import type { DirtyBitmapStore } from './bitmap-store.js';

/**
 * A {@link DirtyBitmapStore} over @strata/image-format's {@link DirtyBitmap}: word-wise bit
 * operations, and the bit order qcow2 stores persistent bitmaps in, so a node's bitmap can
 * be written into the image as it is. The default store of node bitmaps.
 */
export class ImageFormatBitmapStore implements DirtyBitmapStore {
  constructor(readonly bitmap: DirtyBitmap) {}

  static create(granularity: number, size: number): ImageFormatBitmapStore {
    return new ImageFormatBitmapStore(new DirtyBitmap({ granularity, size }));
  }

  get granularity(): number {
    return this.bitmap.granularity;
  }

  get size(): number {
    return this.bitmap.size;
  }

  set(offset: number, length: number): void {
    this.bitmap.set(offset, length);
  }

  reset(offset: number, length: number): void {
    this.bitmap.reset(offset, length);
  }

  isDirty(offset: number): boolean {
    return this.bitmap.get(offset);
  }

  count(): number {
    return this.bitmap.count();
  }

  nextDirty(offset: number): { offset: number; length: number } | null {
    const size = this.bitmap.size;
    if (offset >= size) return null;
    const start = this.bitmap.nextDirty(Math.max(0, offset));
    if (start < 0) return null;
    const clean = this.bitmap.nextClean(start);
    return { offset: start, length: (clean < 0 ? size : clean) - start };
  }

  clear(): void {
    this.bitmap.clear();
  }

  mergeFrom(other: DirtyBitmapStore): void {
    if (
      other instanceof ImageFormatBitmapStore &&
      other.granularity === this.granularity &&
      other.size === this.size
    ) {
      this.bitmap.merge(other.bitmap);
      return;
    }
    for (let at = 0, run = other.nextDirty(0); run; run = other.nextDirty(at)) {
      this.set(run.offset, run.length);
      at = run.offset + run.length;
    }
  }

  clone(): ImageFormatBitmapStore {
    return new ImageFormatBitmapStore(this.bitmap.copy());
  }

  resize(size: number): void {
    this.bitmap.resize(size);
  }
}
