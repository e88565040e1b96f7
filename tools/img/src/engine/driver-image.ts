import {
  applySnapshot,
  type BlockStatusExtent,
  createSnapshot,
  deleteSnapshot,
  type ImageDriver,
  ImageError,
  type ImageFormatName,
  type PersistentBitmaps,
  Qcow2Image,
} from '@strata/image-format';
import type {
  BitmapInfo,
  BitmapStore,
  EngineImage,
  Qcow2Specific,
  SnapshotInfo,
  SnapshotStore,
} from './types.js';

/**
 * An image-format driver seen through the command port: the common driver calls pass
 * straight through; qcow2's extras (info, snapshots, bitmaps, header changes) are adapted.
 */
export class DriverImage implements EngineImage {
  private specific: Qcow2Specific | undefined;
  private snapshotList: SnapshotInfo[] = [];
  private dirtyFlag = false;
  readonly snapshots: SnapshotStore | undefined;
  readonly bitmaps: BitmapStore | undefined;
  readonly backing: EngineImage | null;

  private constructor(readonly driver: ImageDriver) {
    this.backing = driver.backing ? new DriverImage(driver.backing) : null;
    const qcow2 = driver instanceof Qcow2Image ? driver : null;
    this.snapshots = qcow2 ? this.snapshotStore(qcow2) : undefined;
    this.bitmaps = qcow2?.bitmaps ? bitmapStore(qcow2.bitmaps) : undefined;
  }

  /** Wraps a driver, loading what the synchronous accessors report. */
  static async wrap(driver: ImageDriver): Promise<DriverImage> {
    const image = new DriverImage(driver);
    await image.refresh();
    return image;
  }

  private async refresh(): Promise<void> {
    if (!(this.driver instanceof Qcow2Image)) return;
    const info = await this.driver.info();
    this.dirtyFlag = info.dirty;
    this.snapshotList = info.snapshots.map((s) => ({
      id: s.id,
      name: s.name,
      vmStateSize: s.vmStateSize,
      dateSec: s.dateSeconds,
      dateNsec: s.dateNanoseconds,
      vmClockNsec: s.vmClockNs,
      // QEMU stores -1 for "no instruction count" and then leaves the member out.
      ...(s.icount === null || s.icount < 0 ? {} : { icount: s.icount }),
    }));
    this.specific = {
      compat: info.compat,
      compressionType: info.compressionType,
      lazyRefcounts: info.lazyRefcounts,
      refcountBits: info.refcountBits,
      corrupt: info.corrupt,
      extendedL2: info.extendedL2,
      bitmaps: this.bitmaps?.list().filter((b) => b.persistent !== false),
      ...(info.dataFile === null ? {} : { dataFile: info.dataFile }),
    };
  }

  get format(): ImageFormatName {
    return this.driver.format;
  }
  get virtualSize(): number {
    return this.driver.virtualSize;
  }
  get readOnly(): boolean {
    return this.driver.readOnly;
  }
  get backingFileName(): string | null {
    return this.driver.backingFileName;
  }
  get backingFormat(): ImageFormatName | null {
    return this.driver.backingFormat;
  }
  get filename(): string {
    return this.driver.filename;
  }
  get clusterSize(): number | undefined {
    return this.driver instanceof Qcow2Image ? this.driver.clusterSize : undefined;
  }
  get dirty(): boolean {
    return this.dirtyFlag;
  }

  formatSpecific(): Qcow2Specific | undefined {
    return this.specific;
  }

  read(buf: Uint8Array, offset: number): Promise<void> {
    return this.driver.read(buf, offset);
  }
  write(buf: Uint8Array, offset: number): Promise<void> {
    return this.driver.write(buf, offset);
  }
  writeZeroes(offset: number, length: number, options?: { mayUnmap?: boolean }): Promise<void> {
    return this.driver.writeZeroes(offset, length, options);
  }
  discard(offset: number, length: number): Promise<void> {
    return this.driver.discard(offset, length);
  }
  flush(): Promise<void> {
    return this.driver.flush();
  }
  blockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    return this.driver.blockStatus(offset, length);
  }
  resize(newSize: number, options?: { shrink?: boolean }): Promise<void> {
    return this.driver.resize(newSize, options);
  }
  close(): Promise<void> {
    return this.driver.close();
  }

  get writeCompressed(): ((buf: Uint8Array, offset: number) => Promise<void>) | undefined {
    const driver = this.driver;
    if (!(driver instanceof Qcow2Image)) return undefined;
    return (buf, offset) => driver.writeCompressed(buf, offset);
  }

  get setBacking(): ((name: string | null, format: ImageFormatName | null) => Promise<void>) | undefined {
    const driver = this.driver;
    if (!(driver instanceof Qcow2Image)) return undefined;
    return async (name, format) => {
      await driver.rewriteHeader((header) => {
        header.backingFile = name;
        header.backingFormat = name === null ? null : format;
      });
    };
  }

  get makeEmpty(): (() => Promise<void>) | undefined {
    const candidate = (this.driver as { makeEmpty?: () => Promise<void> }).makeEmpty;
    return candidate ? () => candidate.call(this.driver) : undefined;
  }

  private snapshotStore(image: Qcow2Image): SnapshotStore {
    return {
      list: () => this.snapshotList,
      create: async (name) => {
        await createSnapshot(image, name);
        await this.refresh();
      },
      apply: async (nameOrId) => {
        await applySnapshot(image, nameOrId);
        await this.refresh();
      },
      delete: async (nameOrId) => {
        await deleteSnapshot(image, nameOrId);
        await this.refresh();
      },
    };
  }
}

/** Adapts image-format's persistent bitmaps to the command port (only persistent ones are listed). */
function bitmapStore(bitmaps: PersistentBitmaps): BitmapStore {
  return {
    list: (): BitmapInfo[] =>
      bitmaps
        .list()
        .filter((b) => b.persistent)
        .map((b) => ({ name: b.name, granularity: b.granularity, flags: [...b.flags], persistent: true })),
    add: async (name, options) => {
      bitmaps.add(name, {
        persistent: true,
        ...(options.granularity === undefined ? {} : { granularity: options.granularity }),
        ...(options.disabled ? { disabled: true } : {}),
      });
    },
    remove: (name) => bitmaps.remove(name),
    clear: async (name) => bitmaps.clear(name),
    enable: async (name) => bitmaps.enable(name),
    disable: async (name) => bitmaps.disable(name),
    merge: async (target, source, from) => {
      if (!from) {
        bitmaps.merge(target, [source]);
        return;
      }
      const other =
        from instanceof DriverImage && from.driver instanceof Qcow2Image ? from.driver.bitmaps : null;
      if (!other) throw new ImageError('not-found', `Dirty bitmap '${source}' not found`);
      if (!other.has(source)) throw new ImageError('not-found', `Dirty bitmap '${source}' not found`);
      const into = bitmaps.get(target);
      const bits = other.get(source);
      if (bits.size !== into.size) {
        throw new ImageError('invalid-argument', "Bitmaps are incompatible and can't be merged");
      }
      if (bits.granularity === into.granularity) into.merge(bits);
      else for (const extent of bits.extents()) into.set(extent.offset, extent.length);
    },
  };
}
