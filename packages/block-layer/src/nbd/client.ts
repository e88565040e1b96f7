import { connect, type Socket } from 'node:net';
import { BlockError } from '../errors.js';
import { ByteReader, PayloadCursor } from './byte-reader.js';
import {
  BASE_ALLOCATION,
  ClientFlag,
  Cmd,
  CmdFlag,
  HandshakeFlag,
  Info,
  isErrorReply,
  MAX_PAYLOAD,
  Opt,
  REPLY_FLAG_DONE,
  Rep,
  ReplyType,
  TransmitFlag,
} from './constants.js';
import {
  encodeClientFlags,
  encodeExportInfoRequest,
  encodeMetaContextRequest,
  encodeOption,
  type NbdOptionReply,
  tryReadGreeting,
  tryReadOptionReply,
} from './handshake-codec.js';
import { encodeRequest, type NbdExtent, tryReadReply } from './transmission-codec.js';
import type { NbdListenAddress } from './transport.js';

/** Options of {@link NbdClient.connect}. */
export interface NbdClientOptions {
  /** The server: a unix socket or a TCP host and port. */
  server: NbdListenAddress;
  /** The export to open (default: the empty name, the server's default export). */
  exportName?: string;
  /** Metadata contexts to select when the server offers them (default: `base:allocation`). */
  metaContexts?: string[];
  /** Milliseconds to wait for the connection and the handshake (default 10 s). */
  connectTimeoutMs?: number;
}

interface Pending {
  type: number;
  offset: number;
  length: number;
  buf?: Uint8Array;
  extents?: Map<number, NbdExtent[]>;
  error?: BlockError;
  resolve(): void;
  reject(error: BlockError): void;
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};

function serverError(errno: number, message = ''): BlockError {
  const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  const reason = errno === 1 ? 'read-only' : errno === 22 || errno === 28 ? 'invalid-argument' : 'io';
  return new BlockError(reason, `NBD server error ${name}${message ? `: ${message}` : ''}`);
}

/**
 * An NBD client over the fixed newstyle handshake with structured replies: many requests
 * in flight, reads and writes split at the server's maximum block size, block status for
 * the selected contexts. When the server goes away every pending and later request fails
 * with a `BlockError` of reason `io`.
 */
export class NbdClient {
  /** Export size in bytes. */
  size = 0;
  /** Transmission flags the server sent. */
  transmitFlags = 0;
  /** Context ids the server assigned, by name. */
  readonly contexts = new Map<string, number>();
  structured = false;
  maxBlock = MAX_PAYLOAD;
  private readonly reader = new ByteReader();
  private readonly pending = new Map<bigint, Pending>();
  private nextCookie = 1n;
  private failure: BlockError | null = null;
  private waiter: (() => void) | null = null;
  private transmission = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.append(chunk);
      if (this.transmission) this.drainReplies();
      else this.waiter?.();
    });
    socket.on('error', (error) =>
      this.fail(new BlockError('io', `NBD connection failed: ${error.message}`, { cause: error })),
    );
    socket.on('close', () => this.fail(new BlockError('io', 'NBD server closed the connection')));
  }

  /** Connects, negotiates and opens the export. */
  static async connect(options: NbdClientOptions): Promise<NbdClient> {
    const server = options.server;
    const socket =
      server.type === 'unix'
        ? connect(server.path)
        : connect({ host: server.host, port: Number(server.port) });
    socket.setNoDelay?.(true);
    const client = new NbdClient(socket);
    const timeout = setTimeout(
      () => client.fail(new BlockError('io', 'NBD handshake timed out')),
      options.connectTimeoutMs ?? 10_000,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (error) =>
          reject(new BlockError('io', `Failed to connect to NBD server: ${error.message}`, { cause: error })),
        );
      });
      await client.handshake(options.exportName ?? '', options.metaContexts ?? [BASE_ALLOCATION]);
      return client;
    } catch (error) {
      socket.destroy();
      throw error instanceof BlockError ? error : new BlockError('io', String(error), { cause: error });
    } finally {
      clearTimeout(timeout);
    }
  }

  get readOnly(): boolean {
    return (this.transmitFlags & TransmitFlag.READ_ONLY) !== 0;
  }

  get canTrim(): boolean {
    return (this.transmitFlags & TransmitFlag.SEND_TRIM) !== 0;
  }

  get canWriteZeroes(): boolean {
    return (this.transmitFlags & TransmitFlag.SEND_WRITE_ZEROES) !== 0;
  }

  /** Whether the connection is still usable. */
  get connected(): boolean {
    return this.failure === null;
  }

  // ---- handshake ------------------------------------------------------------------

  private async next<T>(parse: (reader: ByteReader) => T | null): Promise<T> {
    for (;;) {
      if (this.failure) throw this.failure;
      const value = parse(this.reader);
      if (value !== null) return value;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = null;
    }
  }

  /** Sends an option and collects its replies up to the final one (ACK or an error). */
  private async option(option: number, data?: Uint8Array): Promise<NbdOptionReply[]> {
    this.socket.write(encodeOption(option, data));
    const replies: NbdOptionReply[] = [];
    for (;;) {
      const reply = await this.next((r) => tryReadOptionReply(r));
      if (reply.option !== option) throw new BlockError('io', 'NBD protocol error: reply to another option');
      replies.push(reply);
      if (reply.type === Rep.ACK || isErrorReply(reply.type)) return replies;
    }
  }

  private async handshake(exportName: string, metaContexts: string[]): Promise<void> {
    const serverFlags = await this.next(tryReadGreeting);
    if (!(serverFlags & HandshakeFlag.FIXED_NEWSTYLE)) {
      throw new BlockError('io', 'NBD server does not support the fixed newstyle handshake');
    }
    this.socket.write(
      encodeClientFlags(
        ClientFlag.FIXED_NEWSTYLE | (serverFlags & HandshakeFlag.NO_ZEROES ? ClientFlag.NO_ZEROES : 0),
      ),
    );
    const structured = await this.option(Opt.STRUCTURED_REPLY);
    this.structured = structured[structured.length - 1]?.type === Rep.ACK;
    if (this.structured && metaContexts.length > 0) {
      const replies = await this.option(
        Opt.SET_META_CONTEXT,
        encodeMetaContextRequest({ exportName, queries: metaContexts }),
      );
      for (const reply of replies) {
        if (reply.type !== Rep.META_CONTEXT) continue;
        const c = new PayloadCursor(reply.data);
        const id = c.u32();
        this.contexts.set(new TextDecoder().decode(c.rest()), id);
      }
    }
    const replies = await this.option(
      Opt.GO,
      encodeExportInfoRequest({ name: exportName, infoRequests: [Info.BLOCK_SIZE] }),
    );
    let sawExport = false;
    for (const reply of replies) {
      if (isErrorReply(reply.type)) {
        const text = new TextDecoder().decode(reply.data);
        const reason = reply.type === Rep.ERR_UNKNOWN ? 'not-found' : 'io';
        throw new BlockError(reason, `NBD server refused export '${exportName}'${text ? `: ${text}` : ''}`);
      }
      if (reply.type !== Rep.INFO || reply.data.length < 2) continue;
      const c = new PayloadCursor(reply.data);
      const info = c.u16();
      if (info === Info.EXPORT && c.remaining >= 10) {
        this.size = Number(c.u64());
        this.transmitFlags = c.u16();
        sawExport = true;
      } else if (info === Info.BLOCK_SIZE && c.remaining >= 12) {
        c.u32();
        c.u32();
        this.maxBlock = Math.min(MAX_PAYLOAD, Math.max(4096, c.u32()));
      }
    }
    if (!sawExport) throw new BlockError('io', 'NBD server did not describe the export');
    this.transmission = true;
    if (this.reader.available > 0) this.drainReplies();
  }

  // ---- transmission ---------------------------------------------------------------

  /** Reads `length` bytes at `offset`. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    await this.readInto(buf, offset);
    return buf;
  }

  /** Reads into `buf` from `offset`. */
  async readInto(buf: Uint8Array, offset: number): Promise<void> {
    const parts: Promise<void>[] = [];
    for (let done = 0; done < buf.length || (buf.length === 0 && done === 0); ) {
      const length = Math.min(this.maxBlock, buf.length - done);
      const target = buf.subarray(done, done + length);
      parts.push(this.request({ type: Cmd.READ, offset: offset + done, length, buf: target }));
      done += length;
      if (length === 0) break;
    }
    await Promise.all(parts);
  }

  /** Writes `data` at `offset`; `fua` makes it durable before the reply. */
  async write(data: Uint8Array, offset: number, options: { fua?: boolean } = {}): Promise<void> {
    const parts: Promise<void>[] = [];
    for (let done = 0; done < data.length; done += this.maxBlock) {
      const chunk = data.subarray(done, done + this.maxBlock);
      parts.push(
        this.request({
          type: Cmd.WRITE,
          offset: offset + done,
          length: chunk.length,
          data: chunk,
          fua: options.fua,
        }),
      );
    }
    await Promise.all(parts);
  }

  async writeZeroes(offset: number, length: number, options: { noHole?: boolean; fastZero?: boolean } = {}) {
    let flags = 0;
    if (options.noHole) flags |= CmdFlag.NO_HOLE;
    if (options.fastZero) flags |= CmdFlag.FAST_ZERO;
    await this.splitRange(offset, length, (o, l) =>
      this.request({ type: Cmd.WRITE_ZEROES, offset: o, length: l, flags }),
    );
  }

  async trim(offset: number, length: number): Promise<void> {
    await this.splitRange(offset, length, (o, l) => this.request({ type: Cmd.TRIM, offset: o, length: l }));
  }

  async flush(): Promise<void> {
    await this.request({ type: Cmd.FLUSH, offset: 0, length: 0 });
  }

  /** Extents per selected context id, from `offset` (they may end before `offset + length`). */
  async blockStatus(offset: number, length: number): Promise<Map<number, NbdExtent[]>> {
    const extents = new Map<number, NbdExtent[]>();
    await this.request({ type: Cmd.BLOCK_STATUS, offset, length: Math.min(length, 0xffffffff), extents });
    return extents;
  }

  /** Sends DISC and closes; pending requests fail. */
  async close(): Promise<void> {
    if (this.failure) return;
    if (this.transmission) {
      this.socket.write(encodeRequest({ flags: 0, type: Cmd.DISC, cookie: 0n, offset: 0, length: 0 }));
    }
    this.socket.end();
    this.fail(new BlockError('io', 'NBD connection closed'));
    this.socket.destroy();
  }

  private async splitRange(offset: number, length: number, op: (o: number, l: number) => Promise<void>) {
    const step = 1 << 30;
    const parts: Promise<void>[] = [];
    for (let done = 0; done < length; done += step)
      parts.push(op(offset + done, Math.min(step, length - done)));
    await Promise.all(parts);
  }

  private request(r: {
    type: number;
    offset: number;
    length: number;
    flags?: number;
    data?: Uint8Array;
    buf?: Uint8Array;
    fua?: boolean;
    extents?: Map<number, NbdExtent[]>;
  }): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const cookie = this.nextCookie++;
    const flags = (r.flags ?? 0) | (r.fua ? CmdFlag.FUA : 0);
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = { type: r.type, offset: r.offset, length: r.length, resolve, reject };
      if (r.buf) pending.buf = r.buf;
      if (r.extents) pending.extents = r.extents;
      this.pending.set(cookie, pending);
      const frame = { flags, type: r.type, cookie, offset: r.offset, length: r.length };
      this.socket.write(encodeRequest(r.data ? { ...frame, data: r.data } : frame));
    });
  }

  private drainReplies(): void {
    try {
      for (;;) {
        const reply = tryReadReply(this.reader, (cookie) => {
          const p = this.pending.get(cookie);
          return p && p.type === Cmd.READ ? p.length : undefined;
        });
        if (!reply) return;
        const p = this.pending.get(reply.cookie);
        if (!p) throw new BlockError('io', 'NBD protocol error: reply to an unknown request');
        if (reply.kind === 'simple') {
          this.pending.delete(reply.cookie);
          if (reply.error !== 0) p.reject(serverError(reply.error));
          else {
            if (p.buf) p.buf.set(reply.data);
            p.resolve();
          }
          continue;
        }
        this.applyChunk(p, reply.type, reply.payload);
        if (reply.flags & REPLY_FLAG_DONE) {
          this.pending.delete(reply.cookie);
          if (p.error) p.reject(p.error);
          else p.resolve();
        }
      }
    } catch (error) {
      this.fail(error instanceof BlockError ? error : new BlockError('io', String(error), { cause: error }));
      this.socket.destroy();
    }
  }

  private applyChunk(p: Pending, type: number, payload: Uint8Array): void {
    const c = new PayloadCursor(payload);
    switch (type) {
      case ReplyType.NONE:
        return;
      case ReplyType.OFFSET_DATA: {
        const at = Number(c.u64()) - p.offset;
        const data = c.rest();
        if (!p.buf || at < 0 || at + data.length > p.buf.length)
          throw new BlockError('io', 'NBD protocol error: data chunk out of range');
        p.buf.set(data, at);
        return;
      }
      case ReplyType.OFFSET_HOLE: {
        const at = Number(c.u64()) - p.offset;
        const length = c.u32();
        if (!p.buf || at < 0 || at + length > p.buf.length)
          throw new BlockError('io', 'NBD protocol error: hole chunk out of range');
        p.buf.fill(0, at, at + length);
        return;
      }
      case ReplyType.BLOCK_STATUS: {
        const id = c.u32();
        const list: NbdExtent[] = [];
        while (c.remaining >= 8) list.push({ length: c.u32(), flags: c.u32() });
        p.extents?.set(id, list);
        return;
      }
      default:
        if (type & 0x8000) {
          const errno = c.u32();
          const message = c.remaining >= 2 ? c.text(Math.min(c.u16(), c.remaining)) : '';
          p.error = serverError(errno, message);
        }
    }
  }

  private fail(error: BlockError): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.waiter?.();
  }
}
