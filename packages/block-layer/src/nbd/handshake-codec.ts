import { BlockError } from '../errors.js';
import { type ByteReader, FrameWriter, PayloadCursor } from './byte-reader.js';
import {
  HandshakeFlag,
  IHAVEOPT,
  Info,
  MAX_OPTION_LENGTH,
  NBD_MAGIC,
  OPTION_REPLY_MAGIC,
} from './constants.js';

/** A client option: its number and raw payload. */
export interface NbdOption {
  option: number;
  data: Uint8Array;
}

/** An option reply as the client sees it. */
export interface NbdOptionReply {
  option: number;
  type: number;
  data: Uint8Array;
}

/** The payload of `INFO` and `GO`. */
export interface ExportInfoRequest {
  name: string;
  infoRequests: number[];
}

/** The payload of `LIST_META_CONTEXT` and `SET_META_CONTEXT`. */
export interface MetaContextRequest {
  exportName: string;
  queries: string[];
}

function protocolError(message: string): BlockError {
  return new BlockError('invalid-argument', `NBD protocol error: ${message}`);
}

// ---- server → client ------------------------------------------------------------------

/** The greeting: NBDMAGIC, IHAVEOPT and the handshake flags (fixed newstyle, no zeroes). */
export function encodeGreeting(flags = HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES): Uint8Array {
  return new FrameWriter(18).u64(NBD_MAGIC).u64(IHAVEOPT).u16(flags).finish();
}

/** One option reply frame. */
export function encodeOptionReply(
  option: number,
  type: number,
  data: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return new FrameWriter(20 + data.length)
    .u64(OPTION_REPLY_MAGIC)
    .u32(option)
    .u32(type)
    .u32(data.length)
    .bytes(data)
    .finish();
}

/** An error reply carrying a human-readable message, as servers customarily do. */
export function encodeOptionError(option: number, type: number, message: string): Uint8Array {
  return encodeOptionReply(option, type, new TextEncoder().encode(message));
}

/** `NBD_REP_SERVER` data: name length, name, then the description with no length of its own. */
export function serverReplyData(name: string, description = ''): Uint8Array {
  return new FrameWriter().lengthText(name).text(description).finish();
}

/** `NBD_REP_META_CONTEXT` data: context id and name. */
export function metaContextReplyData(id: number, name: string): Uint8Array {
  return new FrameWriter().u32(id).text(name).finish();
}

/** `NBD_INFO_EXPORT` data: size and transmission flags. */
export function infoExportData(size: number, flags: number): Uint8Array {
  return new FrameWriter(12).u16(Info.EXPORT).u64(size).u16(flags).finish();
}

/** `NBD_INFO_NAME` data. */
export function infoNameData(name: string): Uint8Array {
  return new FrameWriter().u16(Info.NAME).text(name).finish();
}

/** `NBD_INFO_DESCRIPTION` data. */
export function infoDescriptionData(description: string): Uint8Array {
  return new FrameWriter().u16(Info.DESCRIPTION).text(description).finish();
}

/** `NBD_INFO_BLOCK_SIZE` data: minimum, preferred and maximum block size. */
export function infoBlockSizeData(minimum: number, preferred: number, maximum: number): Uint8Array {
  return new FrameWriter(14).u16(Info.BLOCK_SIZE).u32(minimum).u32(preferred).u32(maximum).finish();
}

/** The old-style answer to `EXPORT_NAME`: size, flags and 124 zero bytes unless the client refused them. */
export function encodeExportNameReply(size: number, flags: number, noZeroes: boolean): Uint8Array {
  const w = new FrameWriter(134).u64(size).u16(flags);
  if (!noZeroes) w.bytes(new Uint8Array(124));
  return w.finish();
}

// ---- client → server, parsed by the server --------------------------------------------

/** The client's u32 flags, or null until four bytes are there. */
export function tryReadClientFlags(reader: ByteReader): number | null {
  if (reader.available < 4) return null;
  const flags = reader.peek(4).getUint32(0);
  reader.skip(4);
  return flags;
}

/**
 * The next option, or null until all of it is there. A bad magic or a payload longer than
 * `maxLength` throws: the server cannot resynchronise and drops the connection.
 */
export function tryReadOption(reader: ByteReader, maxLength = MAX_OPTION_LENGTH): NbdOption | null {
  if (reader.available < 16) return null;
  const head = reader.peek(16);
  if (head.getBigUint64(0) !== IHAVEOPT) throw protocolError('bad option magic');
  const option = head.getUint32(8);
  const length = head.getUint32(12);
  if (length > maxLength) throw protocolError(`option ${option} payload of ${length} bytes is too long`);
  if (reader.available < 16 + length) return null;
  reader.skip(16);
  return { option, data: reader.take(length) };
}

/** Decodes the payload of INFO or GO; throws on a malformed one. */
export function decodeExportInfoRequest(data: Uint8Array): ExportInfoRequest {
  try {
    const c = new PayloadCursor(data);
    const nameLength = c.u32();
    const name = c.text(nameLength);
    const count = c.u16();
    const infoRequests: number[] = [];
    for (let i = 0; i < count; i++) infoRequests.push(c.u16());
    if (c.remaining !== 0) throw new RangeError('trailing bytes');
    return { name, infoRequests };
  } catch (cause) {
    throw new BlockError('invalid-argument', 'NBD protocol error: malformed export request', { cause });
  }
}

/** Decodes the payload of LIST_META_CONTEXT or SET_META_CONTEXT; throws on a malformed one. */
export function decodeMetaContextRequest(data: Uint8Array): MetaContextRequest {
  try {
    const c = new PayloadCursor(data);
    const exportName = c.text(c.u32());
    const count = c.u32();
    const queries: string[] = [];
    for (let i = 0; i < count; i++) {
      const length = c.u32();
      queries.push(c.text(length));
    }
    if (c.remaining !== 0) throw new RangeError('trailing bytes');
    return { exportName, queries };
  } catch (cause) {
    throw new BlockError('invalid-argument', 'NBD protocol error: malformed meta-context request', { cause });
  }
}

// ---- client side ----------------------------------------------------------------------

/** The server greeting's handshake flags, or null until 18 bytes are there; throws on a non-newstyle server. */
export function tryReadGreeting(reader: ByteReader): number | null {
  if (reader.available < 18) return null;
  const v = reader.peek(18);
  if (v.getBigUint64(0) !== NBD_MAGIC) throw protocolError('not an NBD server (bad magic)');
  if (v.getBigUint64(8) !== IHAVEOPT) throw protocolError('server does not speak the newstyle handshake');
  const flags = v.getUint16(16);
  reader.skip(18);
  return flags;
}

/** The client's u32 flags. */
export function encodeClientFlags(flags: number): Uint8Array {
  return new FrameWriter(4).u32(flags).finish();
}

/** One option frame. */
export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return new FrameWriter(16 + data.length).u64(IHAVEOPT).u32(option).u32(data.length).bytes(data).finish();
}

/** Payload of INFO or GO. */
export function encodeExportInfoRequest(request: ExportInfoRequest): Uint8Array {
  const w = new FrameWriter().lengthText(request.name).u16(request.infoRequests.length);
  for (const info of request.infoRequests) w.u16(info);
  return w.finish();
}

/** Payload of LIST_META_CONTEXT or SET_META_CONTEXT. */
export function encodeMetaContextRequest(request: MetaContextRequest): Uint8Array {
  const w = new FrameWriter().lengthText(request.exportName).u32(request.queries.length);
  for (const query of request.queries) w.lengthText(query);
  return w.finish();
}

/** The next option reply, or null until all of it is there; throws on a bad magic or an absurd length. */
export function tryReadOptionReply(reader: ByteReader, maxLength = MAX_OPTION_LENGTH): NbdOptionReply | null {
  if (reader.available < 20) return null;
  const head = reader.peek(20);
  if (head.getBigUint64(0) !== OPTION_REPLY_MAGIC) throw protocolError('bad option reply magic');
  const option = head.getUint32(8);
  const type = head.getUint32(12);
  const length = head.getUint32(16);
  if (length > maxLength) throw protocolError(`option reply of ${length} bytes is too long`);
  if (reader.available < 20 + length) return null;
  reader.skip(20);
  return { option, type, data: reader.take(length) };
}

/** The export size and flags after `EXPORT_NAME`, or null until they (and the zeroes, if any) are there. */
export function tryReadExportNameReply(
  reader: ByteReader,
  noZeroes: boolean,
): { size: number; flags: number } | null {
  const length = noZeroes ? 10 : 134;
  if (reader.available < length) return null;
  const v = reader.peek(10);
  const size = Number(v.getBigUint64(0));
  const flags = v.getUint16(8);
  reader.skip(length);
  return { size, flags };
}
