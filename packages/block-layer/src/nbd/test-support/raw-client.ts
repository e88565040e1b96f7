import { connect, type Socket } from 'node:net';
import { ByteReader } from '../byte-reader.js';

/** A byte-level client for hostile-input tests: sends anything, parses replies on demand. */
export class RawClient {
  readonly reader = new ByteReader();
  readonly closed: Promise<void>;
  isClosed = false;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.append(chunk);
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next value `parse` finds, or null once the connection closed without one. */
  async next<T>(parse: (reader: ByteReader) => T | null): Promise<T | null> {
    for (;;) {
      const value = parse(this.reader);
      if (value !== null) return value;
      if (this.isClosed) return null;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
