import { open, type FileHandle } from 'node:fs/promises';
import { ImageError } from './errors.js';

/**
 * Byte-addressed storage under an image: a host file, or memory in tests. Offsets and
 * lengths are plain numbers (exact up to 2^53, far beyond any image size QEMU allows).
 */
export interface ImageFile {
  /** Where the bytes live, for messages and for resolving relative backing names. */
  readonly path: string;
  readonly readOnly: boolean;
  /** Reads into `buf` from `offset`; returns the bytes read, short only at end of file. */
  read(buf: Uint8Array, offset: number): Promise<number>;
  /** Writes all of `buf` at `offset`, extending the file when needed. */
  write(buf: Uint8Array, offset: number): Promise<void>;
  /** Makes every completed write durable (fdatasync). */
  flush(): Promise<void>;
  truncate(size: number): Promise<void>;
  size(): Promise<number>;
  /** Bytes the file really occupies on the host (sparse files use less than their size), when known. */
  allocatedSize?(): Promise<number>;
  close(): Promise<void>;
}

/** Options for {@link openHostFile}. */
export interface OpenHostFileOptions {
  readOnly?: boolean;
  /** Create the file (failing if it exists, unless `truncate` is set). */
  create?: boolean;
  truncate?: boolean;
}

/** An {@link ImageFile} over a host file, using positioned I/O on one file handle. */
export class HostFile implements ImageFile {
  private closed = false;

  private constructor(
    readonly path: string,
    readonly readOnly: boolean,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string, options: OpenHostFileOptions = {}): Promise<HostFile> {
    const readOnly = options.readOnly ?? false;
    let flags = readOnly ? 'r' : 'r+';
    if (options.create) flags = options.truncate ? 'w+' : 'wx+';
    try {
      return new HostFile(path, readOnly, await open(path, flags));
    } catch (cause) {
      throw new ImageError('io', `Could not open '${path}': ${describe(cause)}`, { path, cause });
    }
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    this.check();
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.io(() =>
        this.handle.read(buf, done, buf.length - done, offset + done),
      );
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.check(true);
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.io(() =>
        this.handle.write(buf, done, buf.length - done, offset + done),
      );
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    this.check();
    if (!this.readOnly) await this.io(() => this.handle.datasync());
  }

  async truncate(size: number): Promise<void> {
    this.check(true);
    await this.io(() => this.handle.truncate(size));
  }

  async size(): Promise<number> {
    this.check();
    return (await this.io(() => this.handle.stat())).size;
  }

  async allocatedSize(): Promise<number> {
    this.check();
    return (await this.io(() => this.handle.stat())).blocks * 512;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  private check(writing = false): void {
    if (this.closed) throw new ImageError('closed', `'${this.path}' is closed`, { path: this.path });
    if (writing && this.readOnly) {
      throw new ImageError('read-only', `'${this.path}' is opened read-only`, { path: this.path });
    }
  }

  private async io<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (cause) {
      throw new ImageError('io', `I/O error on '${this.path}': ${describe(cause)}`, {
        path: this.path,
        cause,
      });
    }
  }
}

/** An {@link ImageFile} in memory: for tests, and for building images before writing them out. */
export class MemoryFile implements ImageFile {
  private bytes: Uint8Array;
  private length: number;
  /** How many times flush() was called; tests use it to check barriers. */
  flushes = 0;

  constructor(
    readonly path = 'memory',
    initial?: Uint8Array,
    readonly readOnly = false,
  ) {
    this.bytes = initial ? Uint8Array.from(initial) : new Uint8Array(0);
    this.length = this.bytes.length;
  }

  /** A copy of the current contents. */
  contents(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    const n = Math.max(0, Math.min(buf.length, this.length - offset));
    buf.set(this.bytes.subarray(offset, offset + n));
    return n;
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) throw new ImageError('read-only', `'${this.path}' is read-only`, { path: this.path });
    this.ensure(offset + buf.length);
    this.bytes.set(buf, offset);
    this.length = Math.max(this.length, offset + buf.length);
  }

  async flush(): Promise<void> {
    this.flushes++;
  }

  async truncate(size: number): Promise<void> {
    if (this.readOnly) throw new ImageError('read-only', `'${this.path}' is read-only`, { path: this.path });
    this.ensure(size);
    if (size < this.length) this.bytes.fill(0, size, this.length);
    this.length = size;
  }

  async size(): Promise<number> {
    return this.length;
  }

  async close(): Promise<void> {}

  private ensure(size: number): void {
    if (size <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(size, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
}

function describe(cause: unknown): string {
  if (cause && typeof cause === 'object' && 'code' in cause) {
    const code = String((cause as { code: unknown }).code);
    const text: Record<string, string> = {
      ENOENT: 'No such file or directory',
      EACCES: 'Permission denied',
      EEXIST: 'File exists',
      EISDIR: 'Is a directory',
      ENOSPC: 'No space left on device',
    };
    return text[code] ?? code;
  }
  return cause instanceof Error ? cause.message : String(cause);
}
