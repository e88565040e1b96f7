import type { Duplex } from 'node:stream';
import { BlockError } from '../errors.js';
import { allocationFlags, chainStatus, dirtyExtents, mergeExtents } from './allocation.js';
import { ByteReader } from './byte-reader.js';
import {
  ClientFlag,
  Cmd,
  CmdFlag,
  Info,
  MAX_PAYLOAD,
  NbdErrno,
  Opt,
  QEMU_ALLOCATION_DEPTH,
  Rep,
  TransmitFlag,
} from './constants.js';
import type { MetaContext, NbdExport } from './export.js';
import {
  decodeExportInfoRequest,
  decodeMetaContextRequest,
  encodeExportNameReply,
  encodeGreeting,
  encodeOptionError,
  encodeOptionReply,
  infoBlockSizeData,
  infoDescriptionData,
  infoExportData,
  infoNameData,
  type NbdOption,
  metaContextReplyData,
  serverReplyData,
  tryReadClientFlags,
  tryReadOption,
} from './handshake-codec.js';
import {
  encodeBlockStatusChunk,
  encodeDataChunkHeader,
  encodeErrorChunk,
  encodeHoleChunk,
  encodeSimpleReply,
  type NbdExtent,
  type NbdRequest,
  tryReadRequest,
} from './transmission-codec.js';

/** What a connection needs from the server that accepted it. */
export interface ConnectionHost {
  lookup(name: string): NbdExport | undefined;
  list(): readonly NbdExport[];
  /** Whether CAN_MULTI_CONN may be advertised (not with a limit of one connection). */
  readonly multiConn: boolean;
  bind(connection: NbdConnection, exp: NbdExport): void;
  closed(connection: NbdConnection): void;
}

/** Requests a client may have in flight before the server stops reading (QEMU uses 16). */
const MAX_IN_FLIGHT = 16;
/** Most extents in one block-status chunk (about 1 MiB of extents, as QEMU). */
const MAX_EXTENTS = (1 << 20) / 8;
const PREFERRED_BLOCK = 4096;

type Phase = 'flags' | 'options' | 'transmission' | 'closing';

/**
 * One client of the NBD server, from greeting to close: the option haggling, then the
 * transmission phase with many requests in flight. Anything the client sends that the
 * protocol cannot recover from closes this connection only; the server goes on.
 */
export class NbdConnection {
  private readonly reader = new ByteReader();
  private phase: Phase = 'flags';
  private fixedNewstyle = false;
  private noZeroes = false;
  private structured = false;
  private metaExport: string | null = null;
  private selected: MetaContext[] = [];
  private exp: NbdExport | null = null;
  private inFlight = new Set<Promise<void>>();
  private processing = false;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  private awaitingDrain = false;

  constructor(
    private readonly stream: Duplex,
    private readonly host: ConnectionHost,
    handshakeTimeoutMs: number,
  ) {
    if (handshakeTimeoutMs > 0) {
      this.timer = setTimeout(() => this.abort(), handshakeTimeoutMs);
      this.timer.unref?.();
    }
    stream.on('data', (chunk: Buffer) => {
      this.reader.append(chunk);
      this.process();
    });
    stream.on('error', () => this.abort());
    stream.on('close', () => this.finish());
    stream.on('end', () => void this.settled().then(() => this.abort()));
    this.send(encodeGreeting());
  }

  /** The export this connection is bound to, once in transmission. */
  get export(): NbdExport | null {
    return this.exp;
  }

  /** Whether the connection is over (it can end before its constructor returns). */
  get isClosed(): boolean {
    return this.ended;
  }

  /** Drops the connection at once (hard export removal, server stop, protocol error). */
  abort(): void {
    this.phase = 'closing';
    this.stream.destroy();
    this.finish();
  }

  /** Resolves when every request already accepted has been answered (or failed). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.phase = 'closing';
    if (this.timer) clearTimeout(this.timer);
    this.host.closed(this);
  }

  private send(frame: Uint8Array): void {
    if (!this.stream.destroyed && this.stream.writable) this.stream.write(frame);
  }

  private process(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.phase !== 'closing') {
        if (this.phase === 'flags') {
          const flags = tryReadClientFlags(this.reader);
          if (flags === null) break;
          if ((flags & ~(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES)) !== 0) {
            this.abort();
            return;
          }
          this.fixedNewstyle = (flags & ClientFlag.FIXED_NEWSTYLE) !== 0;
          this.noZeroes = (flags & ClientFlag.NO_ZEROES) !== 0;
          this.phase = 'options';
        } else if (this.phase === 'options') {
          const option = tryReadOption(this.reader);
          if (option === null) break;
          this.handleOption(option);
        } else {
          if (this.inFlight.size >= MAX_IN_FLIGHT) {
            this.stream.pause();
            break;
          }
          if (this.stream.writableNeedDrain) {
            // A slow reader of our replies: stop taking requests until it catches up.
            this.stream.pause();
            if (!this.awaitingDrain) {
              this.awaitingDrain = true;
              this.stream.once('drain', () => {
                this.awaitingDrain = false;
                this.wake();
              });
            }
            break;
          }
          const request = tryReadRequest(this.reader);
          if (request === null) break;
          this.handleRequest(request);
        }
      }
    } catch {
      this.abort();
    } finally {
      this.processing = false;
    }
  }

  private wake(): void {
    if (this.phase !== 'transmission') return;
    this.stream.resume();
    this.process();
  }

  // ---- options --------------------------------------------------------------------

  private handleOption({ option, data }: NbdOption): void {
    if (!this.fixedNewstyle && option !== Opt.EXPORT_NAME) {
      this.abort();
      return;
    }
    switch (option) {
      case Opt.EXPORT_NAME: {
        const exp = this.host.lookup(new TextDecoder().decode(data));
        if (!exp) {
          this.abort();
          return;
        }
        this.send(encodeExportNameReply(exp.size, this.transmitFlags(exp), this.noZeroes));
        this.enterTransmission(exp);
        return;
      }
      case Opt.ABORT:
        this.send(encodeOptionReply(option, Rep.ACK));
        this.phase = 'closing';
        this.stream.end();
        return;
      case Opt.LIST:
        if (data.length > 0) {
          this.optionError(option, Rep.ERR_INVALID, 'no payload expected');
          return;
        }
        for (const exp of this.host.list()) {
          this.send(encodeOptionReply(option, Rep.SERVER, serverReplyData(exp.name, exp.description)));
        }
        this.send(encodeOptionReply(option, Rep.ACK));
        return;
      case Opt.STARTTLS:
        this.optionError(option, Rep.ERR_POLICY, 'TLS not configured');
        return;
      case Opt.STRUCTURED_REPLY:
        if (data.length > 0) {
          this.optionError(option, Rep.ERR_INVALID, 'no payload expected');
          return;
        }
        if (this.structured) {
          this.optionError(option, Rep.ERR_INVALID, 'structured reply already negotiated');
          return;
        }
        this.structured = true;
        this.send(encodeOptionReply(option, Rep.ACK));
        return;
      case Opt.LIST_META_CONTEXT:
      case Opt.SET_META_CONTEXT:
        this.handleMetaContext(option, data);
        return;
      case Opt.INFO:
      case Opt.GO:
        this.handleInfo(option, data);
        return;
      default:
        this.optionError(option, Rep.ERR_UNSUP, `Unsupported option ${option}`);
        return;
    }
  }

  private handleMetaContext(option: number, data: Uint8Array): void {
    if (!this.structured) {
      this.optionError(option, Rep.ERR_INVALID, 'request not valid before structured replies');
      return;
    }
    let request: ReturnType<typeof decodeMetaContextRequest>;
    try {
      request = decodeMetaContextRequest(data);
    } catch {
      this.optionError(option, Rep.ERR_INVALID, 'malformed meta context request');
      return;
    }
    const exp = this.host.lookup(request.exportName);
    if (!exp) {
      this.optionError(option, Rep.ERR_UNKNOWN, `export '${request.exportName}' not present`);
      return;
    }
    const listing = option === Opt.LIST_META_CONTEXT;
    const contexts = exp.selectContexts(request.queries, listing);
    if (!listing) {
      this.metaExport = exp.name;
      this.selected = contexts;
    }
    for (const context of contexts) {
      // QEMU answers LIST with id 0 for every context; only SET hands out the real ids.
      const id = listing ? 0 : context.id;
      this.send(encodeOptionReply(option, Rep.META_CONTEXT, metaContextReplyData(id, context.name)));
    }
    this.send(encodeOptionReply(option, Rep.ACK));
  }

  private handleInfo(option: number, data: Uint8Array): void {
    let request: ReturnType<typeof decodeExportInfoRequest>;
    try {
      request = decodeExportInfoRequest(data);
    } catch {
      this.optionError(option, Rep.ERR_INVALID, 'malformed export request');
      return;
    }
    const exp = this.host.lookup(request.name);
    if (!exp) {
      this.optionError(option, Rep.ERR_UNKNOWN, `export '${request.name}' not present`);
      return;
    }
    if (request.infoRequests.includes(Info.NAME)) {
      this.send(encodeOptionReply(option, Rep.INFO, infoNameData(exp.name)));
    }
    if (exp.description) this.send(encodeOptionReply(option, Rep.INFO, infoDescriptionData(exp.description)));
    // Strata nodes accept byte-aligned requests, so the minimum block size is always 1.
    this.send(encodeOptionReply(option, Rep.INFO, infoBlockSizeData(1, PREFERRED_BLOCK, MAX_PAYLOAD)));
    this.send(encodeOptionReply(option, Rep.INFO, infoExportData(exp.size, this.transmitFlags(exp))));
    this.send(encodeOptionReply(option, Rep.ACK));
    if (option === Opt.GO) this.enterTransmission(exp);
  }

  private optionError(option: number, type: number, message: string): void {
    this.send(encodeOptionError(option, type, message));
  }

  private transmitFlags(exp: NbdExport): number {
    let flags =
      TransmitFlag.HAS_FLAGS | TransmitFlag.SEND_FLUSH | TransmitFlag.SEND_FUA | TransmitFlag.SEND_CACHE;
    if (this.host.multiConn) flags |= TransmitFlag.CAN_MULTI_CONN;
    if (exp.writable) {
      flags |= TransmitFlag.SEND_TRIM | TransmitFlag.SEND_WRITE_ZEROES | TransmitFlag.SEND_FAST_ZERO;
    } else {
      flags |= TransmitFlag.READ_ONLY;
    }
    if (this.structured) flags |= TransmitFlag.SEND_DF;
    return flags;
  }

  private enterTransmission(exp: NbdExport): void {
    if (this.metaExport !== exp.name) this.selected = [];
    this.exp = exp;
    this.phase = 'transmission';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.host.bind(this, exp);
  }

  // ---- transmission ---------------------------------------------------------------

  private handleRequest(request: NbdRequest): void {
    if (request.type === Cmd.DISC) {
      this.phase = 'closing';
      void this.settled().then(() => this.stream.end());
      return;
    }
    const task = this.run(request).finally(() => {
      this.inFlight.delete(task);
      this.wake();
    });
    this.inFlight.add(task);
    if (request.payloadDropped) {
      // The unread payload leaves the stream unparseable: answer, then hang up.
      this.phase = 'closing';
      void task.then(() => this.stream.end());
    }
  }

  private async run(request: NbdRequest): Promise<void> {
    const exp = this.exp;
    if (!exp) return;
    const problem = this.validate(request, exp);
    if (problem) {
      this.replyError(request, problem.errno, problem.message);
      return;
    }
    try {
      switch (request.type) {
        case Cmd.READ:
          return await this.read(request, exp);
        case Cmd.WRITE:
          await exp.backend.write(request.data ?? new Uint8Array(0), request.offset);
          if (request.flags & CmdFlag.FUA) await exp.backend.flush();
          break;
        case Cmd.FLUSH:
          await exp.backend.flush();
          break;
        case Cmd.TRIM:
          await exp.backend.discard(request.offset, request.length);
          if (request.flags & CmdFlag.FUA) await exp.backend.flush();
          break;
        case Cmd.WRITE_ZEROES:
          await exp.backend.writeZeroes(request.offset, request.length, {
            mayUnmap: (request.flags & CmdFlag.NO_HOLE) === 0,
          });
          if (request.flags & CmdFlag.FUA) await exp.backend.flush();
          break;
        case Cmd.CACHE:
          break;
        case Cmd.BLOCK_STATUS:
          return await this.blockStatus(request, exp);
      }
      this.send(encodeSimpleReply(request.cookie, 0));
    } catch (error) {
      this.replyError(request, errnoOf(error), error instanceof Error ? error.message : String(error));
    }
  }

  private validate(request: NbdRequest, exp: NbdExport): { errno: number; message: string } | null {
    const einval = (message: string) => ({ errno: NbdErrno.EINVAL, message });
    const known = [Cmd.READ, Cmd.WRITE, Cmd.FLUSH, Cmd.TRIM, Cmd.CACHE, Cmd.WRITE_ZEROES, Cmd.BLOCK_STATUS];
    if (!(known as number[]).includes(request.type)) return einval(`unsupported command ${request.type}`);
    let allowed: number = CmdFlag.FUA;
    if (request.type === Cmd.READ && this.structured) allowed |= CmdFlag.DF;
    if (request.type === Cmd.WRITE_ZEROES) allowed |= CmdFlag.NO_HOLE | CmdFlag.FAST_ZERO;
    if (request.type === Cmd.BLOCK_STATUS) allowed |= CmdFlag.REQ_ONE;
    if (request.flags & ~allowed) return einval(`unsupported flags 0x${request.flags.toString(16)}`);
    if (
      request.payloadDropped ||
      ((request.type === Cmd.READ || request.type === Cmd.WRITE) && request.length > MAX_PAYLOAD)
    ) {
      return einval(`len (${request.length}) is larger than max len (${MAX_PAYLOAD})`);
    }
    const writing =
      request.type === Cmd.WRITE || request.type === Cmd.TRIM || request.type === Cmd.WRITE_ZEROES;
    if (writing && !exp.writable) return { errno: NbdErrno.EPERM, message: 'export is read-only' };
    if (request.type !== Cmd.FLUSH && request.offset + request.length > exp.size) {
      const errno =
        request.type === Cmd.WRITE || request.type === Cmd.WRITE_ZEROES ? NbdErrno.ENOSPC : NbdErrno.EINVAL;
      return { errno, message: 'operation past EOF' };
    }
    if (request.type === Cmd.BLOCK_STATUS) {
      if (this.selected.length === 0) return einval('CMD_BLOCK_STATUS not negotiated');
      if (request.length === 0) return einval('need non-zero length');
    }
    return null;
  }

  private replyError(request: NbdRequest, errno: number, message: string): void {
    if (this.structured) this.send(encodeErrorChunk(request.cookie, errno, message));
    else this.send(encodeSimpleReply(request.cookie, errno));
  }

  private async read(request: NbdRequest, exp: NbdExport): Promise<void> {
    const buf = new Uint8Array(request.length);
    if (request.length > 0) await exp.backend.read(buf, request.offset);
    if (!this.structured) {
      this.sendParts([encodeSimpleReply(request.cookie, 0), buf]);
      return;
    }
    if (request.flags & CmdFlag.DF || request.length === 0) {
      this.sendParts([encodeDataChunkHeader(request.cookie, request.offset, buf.length, true), buf]);
      return;
    }
    // A sparse read: areas the chain says read as zero go out as holes.
    const extents = await chainStatus(exp.node, request.offset, request.length);
    const parts: Uint8Array[] = [];
    extents.forEach((e, i) => {
      const done = i === extents.length - 1;
      if (e.zero) {
        parts.push(encodeHoleChunk(request.cookie, e.offset, e.length, done));
      } else {
        const start = e.offset - request.offset;
        parts.push(encodeDataChunkHeader(request.cookie, e.offset, e.length, done));
        parts.push(buf.subarray(start, start + e.length));
      }
    });
    this.sendParts(parts);
  }

  /** Writes the parts of one reply back to back, without copying them into one frame. */
  private sendParts(parts: Uint8Array[]): void {
    if (this.stream.destroyed || !this.stream.writable) return;
    this.stream.cork();
    for (const part of parts) this.stream.write(part);
    this.stream.uncork();
  }

  private async blockStatus(request: NbdRequest, exp: NbdExport): Promise<void> {
    const limit = request.flags & CmdFlag.REQ_ONE ? 1 : MAX_EXTENTS;
    const needChain = this.selected.some((c) => !c.bitmap);
    const chain = needChain ? await chainStatus(exp.node, request.offset, request.length) : [];
    const frames = this.selected.map((context, i) => {
      let extents: NbdExtent[];
      if (context.bitmap) {
        extents = mergeExtents(dirtyExtents(context.bitmap, request.offset, request.length), limit);
      } else if (context.name === QEMU_ALLOCATION_DEPTH) {
        extents = mergeExtents(
          chain.map((e) => ({ length: e.length, flags: e.allocated ? e.depth : 0 })),
          limit,
        );
      } else {
        extents = mergeExtents(
          chain.map((e) => ({ length: e.length, flags: allocationFlags(e) })),
          limit,
        );
      }
      return encodeBlockStatusChunk(request.cookie, context.id, extents, i === this.selected.length - 1);
    });
    this.send(Buffer.concat(frames));
  }
}

function errnoOf(error: unknown): number {
  if (error instanceof BlockError) {
    switch (error.reason) {
      case 'read-only':
        return NbdErrno.EPERM;
      case 'out-of-range':
        return NbdErrno.ENOSPC;
      case 'invalid-argument':
        return NbdErrno.EINVAL;
      default:
        return NbdErrno.EIO;
    }
  }
  return NbdErrno.EIO;
}
