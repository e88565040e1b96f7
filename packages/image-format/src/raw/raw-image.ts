import type { BlockStatusExtent, ImageDriver, ImageFormatName } from '../driver.js';
import { ImageError } from '../errors.js';
import { HostFile, type ImageFile } from '../image-file.js';

/** Largest file some filesystems store inside the inode (ext4 inline data, btrfs inline extents). */
const INLINE_DATA_LIMIT = 64 * 1024;

/**
 * A raw image: guest bytes are file bytes. Block status reports the whole range as data
 * (Node has no SEEK_DATA/SEEK_HOLE) unless the file occupies no host blocks at all, when it
 * is all zeros, and discard keeps the data (allowed: discarded ranges
 * read back as whatever the format defines, and raw defines "unchanged").
 */
export class RawImage implements ImageDriver {
  readonly format: ImageFormatName = 'raw';
  readonly backing = null;
  readonly backingFileName = null;
  readonly backingFormat = null;
  private size: number;
  private closed = false;

  private constructor(
    readonly file: ImageFile,
    size: number,
    readonly readOnly: boolean,
  ) {
    this.size = size;
  }

  /** Opens a raw image over `file` (its size is the virtual size). */
  static async open(file: ImageFile, options: { readOnly?: boolean } = {}): Promise<RawImage> {
    return new RawImage(file, await file.size(), options.readOnly ?? file.readOnly);
  }

  get virtualSize(): number {
    return this.size;
  }
  get filename(): string {
    return this.file.path;
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.check(offset, buf.length);
    const n = await this.file.read(buf, offset);
    if (n < buf.length) buf.fill(0, n);
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.check(offset, buf.length, true);
    await this.file.write(buf, offset);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check(offset, length, true);
    const chunk = new Uint8Array(Math.min(length, 1 << 20));
    for (let at = offset; at < offset + length; at += chunk.length) {
      await this.file.write(chunk.subarray(0, Math.min(chunk.length, offset + length - at)), at);
    }
  }

  async discard(offset: number, length: number): Promise<void> {
    this.check(offset, length, true);
  }

  async flush(): Promise<void> {
    if (!this.closed && !this.readOnly) await this.file.flush();
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    this.check(offset, length);
    if (length === 0) return [];
    // Node cannot seek to holes, but a file that occupies no host blocks at all is one hole:
    // report it as zeros, as qemu-img map does. Files that small could keep their bytes
    // inline in the inode (no blocks, yet data), so only larger ones qualify.
    if (this.size > INLINE_DATA_LIMIT && (await this.file.allocatedSize?.()) === 0) {
      return [{ offset, length, status: 'zero', hostOffset: offset }];
    }
    return [{ offset, length, status: 'data', hostOffset: offset }];
  }

  async resize(newSize: number, options: { shrink?: boolean } = {}): Promise<void> {
    this.check(0, 0, true);
    if (!Number.isSafeInteger(newSize) || newSize < 0) {
      throw new ImageError('invalid-argument', 'Invalid image size', { path: this.file.path });
    }
    if (newSize < this.size && !options.shrink) {
      throw new ImageError('invalid-argument', 'Use the shrink option to shrink an image', {
        path: this.file.path,
      });
    }
    await this.file.truncate(newSize);
    this.size = newSize;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }

  private check(offset: number, length: number, writing = false): void {
    const path = this.file.path;
    if (this.closed) throw new ImageError('closed', `'${path}' is closed`, { path });
    if (writing && this.readOnly)
      throw new ImageError('read-only', `'${path}' is opened read-only`, { path });
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new ImageError('invalid-argument', 'Invalid request offset or length', { path });
    }
    if (offset + length > this.size) {
      throw new ImageError(
        'out-of-range',
        `Request [${offset}, ${offset + length}) is past the end of the image`,
        { path },
      );
    }
  }
}

/** Creates (or truncates) a raw image of `size` bytes; the file is sparse. */
export async function createRaw(path: string, options: { size: number }): Promise<void> {
  if (!Number.isSafeInteger(options.size) || options.size < 0) {
    throw new ImageError('invalid-argument', 'Invalid image size', { path });
  }
  const file = await HostFile.open(path, { create: true, truncate: true });
  try {
    await file.truncate(options.size);
  } finally {
    await file.close();
  }
}
