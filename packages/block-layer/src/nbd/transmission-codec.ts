import { BlockError } from '../errors.js';
import { type ByteReader, FrameWriter } from './byte-reader.js';
import {
  Cmd,
  MAX_PAYLOAD,
  REPLY_FLAG_DONE,
  REQUEST_MAGIC,
  ReplyType,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
} from './constants.js';

/** A transmission-phase request. */
export interface NbdRequest {
  flags: number;
  type: number;
  cookie: bigint;
  /** The offset; values past 2^53 are not exact but are past every export anyway. */
  offset: number;
  length: number;
  /** WRITE payload, when it was read. */
  data?: Uint8Array;
  /** A WRITE whose payload was too large to read: the stream cannot be resynchronised. */
  payloadDropped?: boolean;
}

/** A simple reply (with its read data, when there is some). */
export interface NbdSimpleReply {
  kind: 'simple';
  cookie: bigint;
  error: number;
  data: Uint8Array;
}

/** One structured reply chunk. */
export interface NbdReplyChunk {
  kind: 'chunk';
  cookie: bigint;
  flags: number;
  type: number;
  payload: Uint8Array;
}

/** One extent of a block-status chunk. */
export interface NbdExtent {
  length: number;
  flags: number;
}

function protocolError(message: string): BlockError {
  return new BlockError('invalid-argument', `NBD protocol error: ${message}`);
}

// ---- requests --------------------------------------------------------------------------

/** Encodes a request header, followed by the payload for WRITE. */
export function encodeRequest(request: Omit<NbdRequest, 'payloadDropped'>): Uint8Array {
  const data = request.data;
  const w = new FrameWriter(28 + (data?.length ?? 0))
    .u32(REQUEST_MAGIC)
    .u16(request.flags)
    .u16(request.type)
    .u64(request.cookie)
    .u64(request.offset)
    .u32(request.length);
  if (data) w.bytes(data);
  return w.finish();
}

/**
 * The next request, or null until its header (and, for WRITE, its payload) is there. A
 * bad magic throws. A WRITE longer than `maxPayload` comes back without data and with
 * `payloadDropped`: the caller replies with an error and closes.
 */
export function tryReadRequest(reader: ByteReader, maxPayload = MAX_PAYLOAD): NbdRequest | null {
  if (reader.available < 28) return null;
  const v = reader.peek(28);
  if (v.getUint32(0) !== REQUEST_MAGIC) throw protocolError('bad request magic');
  const flags = v.getUint16(4);
  const type = v.getUint16(6);
  const cookie = v.getBigUint64(8);
  const offset = Number(v.getBigUint64(16));
  const length = v.getUint32(24);
  if (type === Cmd.WRITE) {
    if (length > maxPayload) {
      reader.skip(28);
      return { flags, type, cookie, offset, length, payloadDropped: true };
    }
    if (reader.available < 28 + length) return null;
    reader.skip(28);
    return { flags, type, cookie, offset, length, data: reader.take(length) };
  }
  reader.skip(28);
  return { flags, type, cookie, offset, length };
}

// ---- replies ---------------------------------------------------------------------------

/** A simple reply; `data` only for a successful READ. */
export function encodeSimpleReply(cookie: bigint, error: number, data?: Uint8Array): Uint8Array {
  const w = new FrameWriter(16 + (data?.length ?? 0)).u32(SIMPLE_REPLY_MAGIC).u32(error).u64(cookie);
  if (data) w.bytes(data);
  return w.finish();
}

/** A structured reply chunk. */
export function encodeChunk(cookie: bigint, flags: number, type: number, payload: Uint8Array): Uint8Array {
  return new FrameWriter(20 + payload.length)
    .u32(STRUCTURED_REPLY_MAGIC)
    .u16(flags)
    .u16(type)
    .u64(cookie)
    .u32(payload.length)
    .bytes(payload)
    .finish();
}

/** `OFFSET_DATA` chunk. */
export function encodeDataChunk(cookie: bigint, offset: number, data: Uint8Array, done: boolean): Uint8Array {
  const w = new FrameWriter(20 + 8 + data.length)
    .u32(STRUCTURED_REPLY_MAGIC)
    .u16(done ? REPLY_FLAG_DONE : 0)
    .u16(ReplyType.OFFSET_DATA)
    .u64(cookie)
    .u32(8 + data.length)
    .u64(offset)
    .bytes(data);
  return w.finish();
}

/**
 * The first 28 bytes of an `OFFSET_DATA` chunk carrying `dataLength` bytes: sent before the
 * data itself so a large read is not copied into a frame first.
 */
export function encodeDataChunkHeader(
  cookie: bigint,
  offset: number,
  dataLength: number,
  done: boolean,
): Uint8Array {
  return new FrameWriter(28)
    .u32(STRUCTURED_REPLY_MAGIC)
    .u16(done ? REPLY_FLAG_DONE : 0)
    .u16(ReplyType.OFFSET_DATA)
    .u64(cookie)
    .u32(8 + dataLength)
    .u64(offset)
    .finish();
}

/** `OFFSET_HOLE` chunk. */
export function encodeHoleChunk(cookie: bigint, offset: number, length: number, done: boolean): Uint8Array {
  const payload = new FrameWriter(12).u64(offset).u32(length).finish();
  return encodeChunk(cookie, done ? REPLY_FLAG_DONE : 0, ReplyType.OFFSET_HOLE, payload);
}

/** `BLOCK_STATUS` chunk for one context. */
export function encodeBlockStatusChunk(
  cookie: bigint,
  contextId: number,
  extents: readonly NbdExtent[],
  done: boolean,
): Uint8Array {
  const w = new FrameWriter(4 + 8 * extents.length).u32(contextId);
  for (const e of extents) w.u32(e.length).u32(e.flags);
  return encodeChunk(cookie, done ? REPLY_FLAG_DONE : 0, ReplyType.BLOCK_STATUS, w.finish());
}

/** `ERROR` chunk (always the last one). */
export function encodeErrorChunk(cookie: bigint, error: number, message: string): Uint8Array {
  const text = new TextEncoder().encode(message.slice(0, 4096));
  const payload = new FrameWriter(6 + text.length).u32(error).u16(text.length).bytes(text).finish();
  return encodeChunk(cookie, REPLY_FLAG_DONE, ReplyType.ERROR, payload);
}

/**
 * The next reply or chunk, or null until all of it is there. A simple reply carries data
 * only for a successful READ, and only the requester knows its length: `readLength`
 * answers it by cookie (undefined for anything that is not a pending READ).
 */
export function tryReadReply(
  reader: ByteReader,
  readLength: (cookie: bigint) => number | undefined,
  maxPayload = MAX_PAYLOAD + 4096,
): NbdSimpleReply | NbdReplyChunk | null {
  if (reader.available < 4) return null;
  const magic = reader.peek(4).getUint32(0);
  if (magic === SIMPLE_REPLY_MAGIC) {
    if (reader.available < 16) return null;
    const v = reader.peek(16);
    const error = v.getUint32(4);
    const cookie = v.getBigUint64(8);
    const length = error === 0 ? (readLength(cookie) ?? 0) : 0;
    if (reader.available < 16 + length) return null;
    reader.skip(16);
    return { kind: 'simple', cookie, error, data: reader.take(length) };
  }
  if (magic === STRUCTURED_REPLY_MAGIC) {
    if (reader.available < 20) return null;
    const v = reader.peek(20);
    const flags = v.getUint16(4);
    const type = v.getUint16(6);
    const cookie = v.getBigUint64(8);
    const length = v.getUint32(16);
    if (length > maxPayload) throw protocolError(`reply chunk of ${length} bytes is too long`);
    if (reader.available < 20 + length) return null;
    reader.skip(20);
    return { kind: 'chunk', cookie, flags, type, payload: reader.take(length) };
  }
  throw protocolError('bad reply magic');
}
