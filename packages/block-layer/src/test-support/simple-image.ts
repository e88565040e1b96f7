import {
  type BlockStatusExtent,
  ImageError,
  type ImageDriver,
  type ImageFile,
  type ImageFormatName,
} from '@strata/image-format';

/**
 * A tiny cluster-mapped image format for tests (not qcow2): a 4 KiB header, a table of one
 * 8-byte entry per cluster (0 = unallocated, 1 = zero, otherwise the data's host offset),
 * then data clusters appended at the end of the file. It never follows a backing file,
 * exactly like the drivers the block layer opens, and reports itself as `qcow2` so format
 * nodes treat it as one.
 */
const MAGIC = 0x53494d47; // 'SIMG'
const HEADER = 4096;
const ZERO = 1;

export interface SimpleImageOptions {
  virtualSize: number;
  clusterSize?: number;
  backingFileName?: string;
}

export class SimpleImage implements ImageDriver {
  readonly format: ImageFormatName = 'qcow2';
  readonly backing = null;
  readonly backingFormat: ImageFormatName | null;
  private closed = false;
  /** Modifying requests run one at a time: cluster allocation is not concurrency-safe here. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: ImageFile,
    readonly readOnly: boolean,
    public virtualSize: number,
    readonly clusterSize: number,
    readonly backingFileName: string | null,
    private table: number[],
  ) {
    this.backingFormat = backingFileName ? 'qcow2' : null;
  }

  get filename(): string {
    return this.file.path;
  }

  /** Writes a fresh empty image into `file`. */
  static async create(file: ImageFile, options: SimpleImageOptions): Promise<void> {
    const clusterSize = options.clusterSize ?? 4096;
    const clusters = Math.ceil(options.virtualSize / clusterSize);
    const header = new Uint8Array(HEADER);
    const view = new DataView(header.buffer);
    view.setUint32(0, MAGIC);
    view.setUint32(4, clusterSize);
    view.setFloat64(8, options.virtualSize);
    const name = new TextEncoder().encode(options.backingFileName ?? '');
    view.setUint32(16, name.length);
    header.set(name, 20);
    await file.truncate(0);
    await file.write(header, 0);
    await file.write(new Uint8Array(clusters * 8), HEADER);
  }

  static async open(file: ImageFile, options: { readOnly: boolean }): Promise<SimpleImage> {
    const header = new Uint8Array(HEADER);
    await file.read(header, 0);
    const view = new DataView(header.buffer);
    if (view.getUint32(0) !== MAGIC) throw new ImageError('bad-magic', `'${file.path}' is not a test image`);
    const clusterSize = view.getUint32(4);
    const virtualSize = view.getFloat64(8);
    const nameLength = view.getUint32(16);
    const name = nameLength > 0 ? new TextDecoder().decode(header.subarray(20, 20 + nameLength)) : null;
    const clusters = Math.ceil(virtualSize / clusterSize);
    const raw = new Uint8Array(clusters * 8);
    await file.read(raw, HEADER);
    const tableView = new DataView(raw.buffer);
    const table = Array.from({ length: clusters }, (_, i) => tableView.getFloat64(i * 8));
    return new SimpleImage(file, options.readOnly, virtualSize, clusterSize, name, table);
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.check(offset, buf.length, false);
    await this.eachCluster(offset, buf.length, async (entry, at, inCluster, pos, len) => {
      const part = buf.subarray(pos, pos + len);
      if (entry > ZERO) await this.file.read(part, entry + inCluster);
      else part.fill(0);
      void at;
    });
  }

  write(buf: Uint8Array, offset: number): Promise<void> {
    return this.serial(() => this.writeNow(buf, offset));
  }

  private async writeNow(buf: Uint8Array, offset: number): Promise<void> {
    this.check(offset, buf.length, true);
    await this.eachCluster(offset, buf.length, async (entry, index, inCluster, pos, len) => {
      let host = entry;
      if (host <= ZERO) {
        host = await this.allocate(index);
        // A fresh cluster is zero outside the written part (no backing is ever consulted).
        const fill = new Uint8Array(this.clusterSize);
        fill.set(buf.subarray(pos, pos + len), inCluster);
        await this.file.write(fill, host);
        return;
      }
      await this.file.write(buf.subarray(pos, pos + len), host + inCluster);
    });
  }

  writeZeroes(offset: number, length: number, options: { mayUnmap?: boolean } = {}): Promise<void> {
    return this.serial(() => this.writeZeroesNow(offset, length, options));
  }

  private async writeZeroesNow(
    offset: number,
    length: number,
    options: { mayUnmap?: boolean },
  ): Promise<void> {
    this.check(offset, length, true);
    await this.eachCluster(offset, length, async (entry, index, inCluster, _pos, len) => {
      if (inCluster === 0 && len === this.clusterSize) {
        await this.setEntry(index, options.mayUnmap ? 0 : ZERO);
      } else if (entry > ZERO) {
        await this.file.write(new Uint8Array(len), entry + inCluster);
      } else if (entry === 0) {
        await this.setEntry(index, ZERO);
      }
    });
  }

  discard(offset: number, length: number): Promise<void> {
    return this.serial(() => this.discardNow(offset, length));
  }

  private async discardNow(offset: number, length: number): Promise<void> {
    this.check(offset, length, true);
    await this.eachCluster(offset, length, async (_entry, index, inCluster, _pos, len) => {
      if (inCluster === 0 && len === this.clusterSize) await this.setEntry(index, 0);
    });
  }

  async flush(): Promise<void> {
    await this.file.flush();
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    this.check(offset, length, false);
    const extents: BlockStatusExtent[] = [];
    await this.eachCluster(offset, length, async (entry, _index, _in, pos, len) => {
      const status = entry > ZERO ? 'data' : entry === ZERO ? 'zero' : 'unallocated';
      const last = extents[extents.length - 1];
      if (last && last.status === status) last.length += len;
      else extents.push({ offset: offset + pos, length: len, status });
    });
    return extents;
  }

  async resize(newSize: number): Promise<void> {
    if (newSize < this.virtualSize) throw new ImageError('invalid-argument', 'shrinking is not supported');
    const clusters = Math.ceil(newSize / this.clusterSize);
    if (clusters !== this.table.length) {
      throw new ImageError('invalid-argument', 'test images only grow within their last cluster');
    }
    this.virtualSize = newSize;
    const header = new Uint8Array(8);
    new DataView(header.buffer).setFloat64(0, newSize);
    await this.file.write(header, 8);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.readOnly) await this.file.flush();
  }

  private serial(op: () => Promise<void>): Promise<void> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private check(offset: number, length: number, writing: boolean): void {
    if (this.closed) throw new ImageError('closed', 'image is closed');
    if (writing && this.readOnly) throw new ImageError('read-only', 'image is read-only');
    if (offset < 0 || length < 0 || offset + length > this.virtualSize) {
      throw new ImageError('out-of-range', `request past the end of the image`);
    }
  }

  private async eachCluster(
    offset: number,
    length: number,
    visit: (entry: number, index: number, inCluster: number, pos: number, len: number) => Promise<void>,
  ): Promise<void> {
    let pos = 0;
    while (pos < length) {
      const at = offset + pos;
      const index = Math.floor(at / this.clusterSize);
      const inCluster = at % this.clusterSize;
      const len = Math.min(this.clusterSize - inCluster, length - pos);
      await visit(this.table[index] ?? 0, index, inCluster, pos, len);
      pos += len;
    }
  }

  private async allocate(index: number): Promise<number> {
    const size = await this.file.size();
    const host = Math.ceil(size / this.clusterSize) * this.clusterSize;
    await this.file.write(new Uint8Array(this.clusterSize), host);
    await this.setEntry(index, host);
    return host;
  }

  private async setEntry(index: number, value: number): Promise<void> {
    this.table[index] = value;
    const entry = new Uint8Array(8);
    new DataView(entry.buffer).setFloat64(0, value);
    await this.file.write(entry, HEADER + index * 8);
  }
}
