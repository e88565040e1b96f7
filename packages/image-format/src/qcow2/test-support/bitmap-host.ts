import { HostFile, type ImageFile } from '../../image-file.js';
import type { BitmapDirectoryLocation, BitmapStorage } from '../bitmaps.js';
import { StoredRefcounts } from '../check-refcounts.js';
import { readHeaderForCheck } from '../check.js';
import { AUTOCLEAR_BITMAPS } from '../constants.js';
import { type Qcow2Header, serializeHeader, serializeBitmapsExtension } from '../header.js';

/**
 * A minimal {@link BitmapStorage} over an image made by qemu-img: clusters are appended at
 * the end of the file and counted in the existing refcount blocks. Enough to exercise
 * persistent bitmaps without the full qcow2 writer.
 */
export class AppendingBitmapHost implements BitmapStorage {
  private constructor(
    readonly file: ImageFile,
    private header: Qcow2Header,
    private readonly refcounts: StoredRefcounts,
  ) {}

  static async open(path: string, readOnly = false): Promise<AppendingBitmapHost> {
    return AppendingBitmapHost.over(await HostFile.open(path, { readOnly }));
  }

  /** The same over any image file (a MemoryFile in unit tests). */
  static async over(file: ImageFile): Promise<AppendingBitmapHost> {
    const header = await readHeaderForCheck(file);
    const refcounts = await StoredRefcounts.load(
      file,
      header.clusterBits,
      header.refcountOrder,
      header.refcountTableOffset,
      (header.refcountTableClusters << header.clusterBits) / 8,
    );
    return new AppendingBitmapHost(file, header, refcounts);
  }

  get clusterSize(): number {
    return 1 << this.header.clusterBits;
  }
  get virtualSize(): number {
    return this.header.size;
  }
  get version(): number {
    return this.header.version;
  }
  get readOnly(): boolean {
    return this.file.readOnly;
  }
  get bitmapsExtension(): BitmapDirectoryLocation | null {
    return this.header.bitmaps;
  }

  async allocateClusters(count: number): Promise<number> {
    const size = await this.file.size();
    const first = Math.ceil(size / this.clusterSize);
    await this.file.truncate((first + count) * this.clusterSize);
    for (let c = first; c < first + count; c++) {
      if (!(await this.refcounts.set(c, 1n)))
        throw new Error('test host: no refcount block for the new cluster');
    }
    return first * this.clusterSize;
  }

  async freeClusters(offset: number, length: number): Promise<void> {
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.floor((offset + length - 1) / this.clusterSize);
    for (let c = first; c <= last; c++) {
      const now = await this.refcounts.get(c);
      await this.refcounts.set(c, now - 1n);
    }
  }

  async writeBitmapsExtension(location: BitmapDirectoryLocation | null): Promise<void> {
    const h = this.header;
    if (location) {
      const ext = { ...location, reserved: 0 };
      h.bitmaps = { ...ext, raw: serializeBitmapsExtension(ext) };
      h.autoclearFeatures |= AUTOCLEAR_BITMAPS;
    } else {
      h.bitmaps = null;
      h.autoclearFeatures &= ~AUTOCLEAR_BITMAPS;
    }
    await this.file.write(serializeHeader(h), 0);
    await this.file.flush();
  }

  async flush(): Promise<void> {
    await this.file.flush();
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
