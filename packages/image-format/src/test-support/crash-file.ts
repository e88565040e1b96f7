import type { ImageFile } from '../image-file.js';

type Event =
  | { kind: 'write'; offset: number; data: Uint8Array }
  | { kind: 'truncate'; size: number }
  | { kind: 'flush' };

/**
 * An in-memory {@link ImageFile} that logs every write, truncate and flush, so a test can
 * rebuild what a disk could hold after a crash at any point: everything up to the last
 * flush, plus any subset of the writes issued after it (a disk may persist them in any order).
 */
export class CrashRecordingFile implements ImageFile {
  readonly readOnly = false;
  private bytes: Uint8Array = new Uint8Array(0);
  readonly events: Event[] = [];

  constructor(
    readonly path: string,
    initial?: Uint8Array,
  ) {
    if (initial) this.bytes = Uint8Array.from(initial);
    this.events.push({ kind: 'write', offset: 0, data: Uint8Array.from(this.bytes) }, { kind: 'flush' });
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    const n = Math.max(0, Math.min(buf.length, this.bytes.length - offset));
    buf.set(this.bytes.subarray(offset, offset + n));
    return n;
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.events.push({ kind: 'write', offset, data: Uint8Array.from(buf) });
    this.bytes = apply(this.bytes, offset, buf);
  }

  async flush(): Promise<void> {
    this.events.push({ kind: 'flush' });
  }

  async truncate(size: number): Promise<void> {
    this.events.push({ kind: 'truncate', size });
    this.bytes = resize(this.bytes, size);
  }

  async size(): Promise<number> {
    return this.bytes.length;
  }

  async close(): Promise<void> {}

  /**
   * The disk contents after a crash right after event `at`: every event up to the last flush
   * at or before it, then the later writes for which `keep` says yes.
   */
  crashState(at: number, keep: (writeIndex: number) => boolean): Uint8Array {
    let lastFlush = 0;
    for (let i = 0; i <= at; i++) if (this.events[i]?.kind === 'flush') lastFlush = i;
    let bytes: Uint8Array = new Uint8Array(0);
    for (let i = 0; i <= at; i++) {
      const e = this.events[i] as Event;
      if (e.kind === 'flush') continue;
      if (i > lastFlush && e.kind === 'write' && !keep(i)) continue;
      bytes = e.kind === 'write' ? apply(bytes, e.offset, e.data) : resize(bytes, e.size);
    }
    return bytes;
  }
}

function apply(bytes: Uint8Array, offset: number, data: Uint8Array): Uint8Array {
  const out = offset + data.length > bytes.length ? resize(bytes, offset + data.length) : bytes;
  out.set(data, offset);
  return out;
}

function resize(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(bytes.subarray(0, Math.min(size, bytes.length)));
  return out;
}
