import { type BlockStatusExtent, type ImageDriver, type ImageFile, Qcow2Image } from '@strata/image-format';
import { BlockError } from '../errors.js';
import { backingChildClaim, metadataChildClaim } from '../graph/child-permissions.js';
import type { BlockEdge } from '../graph/edge.js';
import { BlockNode, type ImageInfo, type WriteZeroesOptions } from '../graph/node.js';
import type { PermissionClaim } from '../graph/permissions.js';
import { NodeImageFile } from '../io/node-image-file.js';
import { NodeBackingDriver } from '../io/node-backing-driver.js';
import { RangeLock } from '../io/range-lock.js';
import { jsonFilename, nodeOptions } from './json-filename.js';
import { exportStoredBitmaps, importStoredBitmaps, storedBitmaps } from './persistent-bitmaps.js';

/**
 * Opens an image-format driver on a file **without opening its backing file**: the graph
 * owns the backing link as a node. `backing` presents that node to the driver; a driver
 * that takes it (its `backing` is then non-null) does copy-on-write against the graph
 * itself. A driver that ignores it must read unallocated ranges as zeroes, and the node
 * then composes the backing data on its own.
 */
export type FormatOpener = (
  file: ImageFile,
  options: { readOnly: boolean; backing: ImageDriver },
) => Promise<ImageDriver>;

/** Opens qcow2 images with @strata/image-format's driver. */
export const qcow2Opener: FormatOpener = (file, options) =>
  Qcow2Image.open(file, { readOnly: options.readOnly, backing: options.backing });

/** Cluster size assumed when the driver does not tell (qcow2's default). */
const DEFAULT_CLUSTER_SIZE = 65536;

/**
 * A format node over an image-format driver (qcow2): metadata and data live in the `file`
 * child; ranges this layer does not allocate are read from the `backing` child. Partial
 * writes to unallocated clusters are widened to whole clusters filled from the backing
 * view (copy-on-write), because the driver itself does not see the backing chain.
 */
export class Qcow2Node extends BlockNode {
  override readonly supportsBacking = true;
  private image: ImageDriver | null = null;
  /** `format-specific` of the image, read when the driver opens. */
  private formatSpecific: ImageInfo['format-specific'] | undefined;
  private readonly cow = new RangeLock();

  constructor(
    name: string,
    readOnly: boolean,
    private readonly opener: FormatOpener,
  ) {
    super(name, readOnly);
  }

  get driver(): string {
    return this.image?.format ?? 'qcow2';
  }

  /** Opens the driver through the `file` child; the child must be attached first. */
  async openDriver(): Promise<void> {
    this.image = await this.opener(this.fileAdapter(), {
      readOnly: this.readOnly,
      backing: new NodeBackingDriver(() => this.backing),
    });
    const stored = storedBitmaps(this.image);
    if (stored) importStoredBitmaps(this, stored);
    this.formatSpecific = await readFormatSpecific(this.image);
  }

  /** Hands the node's persistent bitmaps to the image, which stores them on close. */
  private async storeBitmaps(): Promise<void> {
    const stored = storedBitmaps(this.image);
    if (stored && !this.readOnly) await exportStoredBitmaps(this, stored);
  }

  /** The image-format driver (for header-level operations such as rewriting the backing string). */
  get imageDriver(): ImageDriver {
    if (!this.image) throw new BlockError('invalid-argument', `Node '${this.name}' is not open`);
    return this.image;
  }

  /** The driver reads the backing node itself (through {@link NodeBackingDriver}). */
  private get driverComposes(): boolean {
    return this.image?.backing != null;
  }

  get clusterSize(): number {
    const size = (this.image as { clusterSize?: unknown } | null)?.clusterSize;
    return typeof size === 'number' && size > 0 ? size : DEFAULT_CLUSTER_SIZE;
  }

  get length(): number {
    return this.image?.virtualSize ?? 0;
  }

  get filename(): string {
    const file = this.file?.filename ?? '';
    const backing = this.backing;
    if (backing && backing.filename !== this.headerBackingPath()) return jsonFilename(nodeOptions(this));
    return file;
  }

  /** The backing file named in the header, resolved against this image's directory. */
  headerBackingPath(): string | null {
    const name = this.image?.backingFileName ?? null;
    if (name === null) return null;
    if (name.startsWith('/') || name.includes(':')) return name;
    const base = this.file?.filename ?? '';
    const slash = base.lastIndexOf('/');
    return slash < 0 ? name : base.slice(0, slash + 1) + name;
  }

  childClaim(edge: BlockEdge, cumulative: PermissionClaim): PermissionClaim {
    if (edge.role === 'backing') return backingChildClaim(cumulative);
    return metadataChildClaim(cumulative, !this.readOnly);
  }

  protected async doRead(buf: Uint8Array, offset: number): Promise<void> {
    const image = this.imageDriver;
    await image.read(buf, offset);
    const backing = this.backing;
    if (!backing || this.driverComposes) return;
    for (const extent of await image.blockStatus(offset, buf.length)) {
      if (extent.status !== 'unallocated') continue;
      await readBacking(
        backing,
        buf.subarray(extent.offset - offset, extent.offset - offset + extent.length),
        extent.offset,
      );
    }
  }

  protected async doWrite(buf: Uint8Array, offset: number): Promise<void> {
    if (!this.backing || this.driverComposes) return this.imageDriver.write(buf, offset);
    const cluster = this.clusterSize;
    const start = Math.floor(offset / cluster) * cluster;
    const end = Math.min(this.length, Math.ceil((offset + buf.length) / cluster) * cluster);
    const release = await this.cow.acquire(start, end - start);
    try {
      if (start === offset && end === offset + buf.length) return await this.imageDriver.write(buf, offset);
      if (!(await this.needsCow(start, end, offset, offset + buf.length))) {
        return await this.imageDriver.write(buf, offset);
      }
      const merged = new Uint8Array(end - start);
      await this.doRead(merged, start);
      merged.set(buf, offset - start);
      await this.imageDriver.write(merged, start);
    } finally {
      release();
    }
  }

  protected async doWriteZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    if (!this.backing || this.driverComposes) return this.imageDriver.writeZeroes(offset, length, options);
    // With a backing node the driver must not deallocate (the backing would show through),
    // and partial clusters go through the copy-on-write path.
    const cluster = this.clusterSize;
    const alignedStart = Math.ceil(offset / cluster) * cluster;
    const alignedEnd = Math.max(alignedStart, Math.floor((offset + length) / cluster) * cluster);
    const end = offset + length;
    if (alignedStart >= end || alignedEnd <= alignedStart) {
      return this.doWrite(new Uint8Array(length), offset);
    }
    if (offset < alignedStart) await this.doWrite(new Uint8Array(alignedStart - offset), offset);
    await this.imageDriver.writeZeroes(alignedStart, alignedEnd - alignedStart, { mayUnmap: false });
    if (alignedEnd < end) await this.doWrite(new Uint8Array(end - alignedEnd), alignedEnd);
  }

  protected async doDiscard(offset: number, length: number): Promise<void> {
    if (!this.backing || this.driverComposes) return this.imageDriver.discard(offset, length);
    // Dropping clusters would expose the backing's old data; QEMU makes them read as zeroes.
    const cluster = this.clusterSize;
    const start = Math.ceil(offset / cluster) * cluster;
    const end = Math.floor((offset + length) / cluster) * cluster;
    if (end > start) await this.imageDriver.writeZeroes(start, end - start, { mayUnmap: false });
  }

  protected doFlush(): Promise<void> {
    return this.imageDriver.flush();
  }

  protected doBlockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    return this.imageDriver.blockStatus(offset, length);
  }

  protected override doResize(size: number): Promise<void> {
    return this.imageDriver.resize(size);
  }

  override async reopen(readOnly: boolean): Promise<void> {
    if (readOnly === this.readOnly && this.image) return;
    await this.storeBitmaps();
    if (this.image) await this.image.close();
    this.image = null;
    this.readOnly = readOnly;
    await this.openDriver();
  }

  override async close(): Promise<void> {
    await this.storeBitmaps();
    const image = this.image;
    this.image = null;
    if (image) await image.close();
  }

  imageInfo(): ImageInfo {
    const image = this.imageDriver;
    const info: ImageInfo = {
      'virtual-size': image.virtualSize,
      filename: this.filename,
      'cluster-size': this.clusterSize,
      format: image.format,
      'actual-size': this.file?.length ?? 0,
      'dirty-flag': false,
    };
    if (this.formatSpecific) info['format-specific'] = this.formatSpecific;
    if (image.backingFileName !== null) {
      info['backing-filename'] = image.backingFileName;
      info['full-backing-filename'] = this.headerBackingPath() ?? image.backingFileName;
      if (image.backingFormat) info['backing-filename-format'] = image.backingFormat;
    }
    return info;
  }

  private fileAdapter(): NodeImageFile {
    return new NodeImageFile(() => {
      const file = this.file;
      if (!file) throw new BlockError('invalid-argument', `Node '${this.name}' has no file child`);
      return file;
    });
  }

  /** Whether a partial cluster at either edge of the write is unallocated in this layer. */
  private async needsCow(start: number, end: number, from: number, to: number): Promise<boolean> {
    const cluster = this.clusterSize;
    const edges: Array<[number, number]> = [];
    if (from > start) edges.push([start, Math.min(cluster, end - start)]);
    if (to < end) edges.push([Math.max(start, end - cluster), end - Math.max(start, end - cluster)]);
    for (const [at, len] of edges) {
      const extents = await this.imageDriver.blockStatus(at, len);
      if (extents.some((e) => e.status === 'unallocated')) return true;
    }
    return false;
  }
}

/**
 * QEMU's `format-specific` member for a qcow2 image (version 3 images report more), from
 * the driver's `info()` when it has one.
 */
async function readFormatSpecific(driver: ImageDriver): Promise<ImageInfo['format-specific'] | undefined> {
  const read = (driver as { info?: () => Promise<unknown> }).info;
  if (typeof read !== 'function') return undefined;
  const info = (await read.call(driver)) as Partial<{
    compat: string;
    compressionType: string;
    lazyRefcounts: boolean;
    refcountBits: number;
    corrupt: boolean;
    extendedL2: boolean;
  }>;
  if (info.compat === undefined) return undefined;
  const data: Record<string, unknown> =
    info.compat === '0.10'
      ? { compat: info.compat, 'compression-type': info.compressionType, 'refcount-bits': info.refcountBits }
      : {
          compat: info.compat,
          'compression-type': info.compressionType,
          'lazy-refcounts': info.lazyRefcounts,
          'refcount-bits': info.refcountBits,
          corrupt: info.corrupt,
          'extended-l2': info.extendedL2,
        };
  return { type: 'qcow2', data };
}

/** Reads from a backing node that may be shorter than the overlay (the rest reads as zeroes). */
async function readBacking(backing: BlockNode, buf: Uint8Array, offset: number): Promise<void> {
  const available = Math.max(0, Math.min(buf.length, backing.length - offset));
  if (available > 0) await backing.read(buf.subarray(0, available), offset);
  buf.fill(0, available);
}
