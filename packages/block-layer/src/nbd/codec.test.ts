import { describe, expect, it } from 'vitest';
import { ByteReader } from './byte-reader.js';
import { Cmd, IHAVEOPT, Info, Opt, Rep, ReplyType } from './constants.js';
import {
  decodeExportInfoRequest,
  decodeMetaContextRequest,
  encodeClientFlags,
  encodeExportInfoRequest,
  encodeExportNameReply,
  encodeGreeting,
  encodeMetaContextRequest,
  encodeOption,
  encodeOptionReply,
  infoExportData,
  tryReadClientFlags,
  tryReadExportNameReply,
  tryReadGreeting,
  tryReadOption,
  tryReadOptionReply,
} from './handshake-codec.js';
import {
  encodeBlockStatusChunk,
  encodeDataChunk,
  encodeErrorChunk,
  encodeHoleChunk,
  encodeRequest,
  encodeSimpleReply,
  type NbdRequest,
  tryReadReply,
  tryReadRequest,
} from './transmission-codec.js';

type Parse<T> = (reader: ByteReader) => T | null;

/**
 * Feeds `frame` cut at every offset (and byte by byte) and expects the parser to wait
 * until the last byte, then produce `expected`; also two frames in one chunk.
 */
function checkSplits<T>(frame: Uint8Array, parse: Parse<T>, expected: T): void {
  for (let cut = 0; cut <= frame.length; cut++) {
    const reader = new ByteReader();
    reader.append(frame.subarray(0, cut));
    if (cut < frame.length) {
      expect(parse(reader), `cut at ${cut}`).toBeNull();
      reader.append(frame.subarray(cut));
    }
    expect(parse(reader), `cut at ${cut}`).toEqual(expected);
    expect(reader.available).toBe(0);
  }
  const byByte = new ByteReader();
  let result: T | null = null;
  for (let i = 0; i < frame.length; i++) {
    byByte.append(frame.subarray(i, i + 1));
    result = parse(byByte);
    if (i < frame.length - 1) expect(result).toBeNull();
  }
  expect(result).toEqual(expected);
  const two = new ByteReader();
  two.append(Buffer.concat([frame, frame]));
  expect(parse(two)).toEqual(expected);
  expect(parse(two)).toEqual(expected);
  expect(parse(two)).toBeNull();
}

const bytes = (...values: number[]) => Uint8Array.from(values);

describe('handshake frames at every split point', () => {
  it('greeting', () => {
    checkSplits(encodeGreeting(), tryReadGreeting, 3);
  });

  it('client flags', () => {
    checkSplits(encodeClientFlags(3), tryReadClientFlags, 3);
  });

  it('options with and without payload', () => {
    checkSplits(encodeOption(Opt.STRUCTURED_REPLY), (r) => tryReadOption(r), {
      option: Opt.STRUCTURED_REPLY,
      data: new Uint8Array(0),
    });
    const go = encodeExportInfoRequest({ name: 'disk', infoRequests: [Info.NAME, Info.BLOCK_SIZE] });
    checkSplits(encodeOption(Opt.GO, go), (r) => tryReadOption(r), { option: Opt.GO, data: go });
  });

  it('option replies', () => {
    const data = infoExportData(1 << 20, 0x0ded);
    checkSplits(encodeOptionReply(Opt.GO, Rep.INFO, data), (r) => tryReadOptionReply(r), {
      option: Opt.GO,
      type: Rep.INFO,
      data,
    });
  });

  it('EXPORT_NAME answers with and without the zero padding', () => {
    checkSplits(encodeExportNameReply(4096, 3, true), (r) => tryReadExportNameReply(r, true), {
      size: 4096,
      flags: 3,
    });
    checkSplits(encodeExportNameReply(4096, 3, false), (r) => tryReadExportNameReply(r, false), {
      size: 4096,
      flags: 3,
    });
  });

  it('bad option magic and over-long options are refused', () => {
    const reader = new ByteReader();
    reader.append(new Uint8Array(16).fill(0x41));
    expect(() => tryReadOption(reader)).toThrow(/bad option magic/);
    const long = new ByteReader();
    const head = new DataView(new ArrayBuffer(16));
    head.setBigUint64(0, IHAVEOPT);
    head.setUint32(8, Opt.GO);
    head.setUint32(12, 0xffffffff);
    long.append(new Uint8Array(head.buffer));
    expect(() => tryReadOption(long)).toThrow(/too long/);
  });

  it('GO and meta-context payloads round-trip and malformed ones throw', () => {
    const go = { name: 'ëxport', infoRequests: [Info.NAME, Info.DESCRIPTION] };
    expect(decodeExportInfoRequest(encodeExportInfoRequest(go))).toEqual(go);
    const meta = { exportName: 'disk', queries: ['base:allocation', 'qemu:dirty-bitmap:b0'] };
    expect(decodeMetaContextRequest(encodeMetaContextRequest(meta))).toEqual(meta);
    expect(() => decodeExportInfoRequest(bytes(0, 0, 0, 9, 65))).toThrow(/malformed/);
    expect(() => decodeMetaContextRequest(bytes(0, 0, 0, 0, 0, 0, 0, 5))).toThrow(/malformed/);
    const trailing = Buffer.concat([encodeExportInfoRequest(go), bytes(1)]);
    expect(() => decodeExportInfoRequest(trailing)).toThrow(/malformed/);
  });
});

describe('transmission frames at every split point', () => {
  it('requests, with a write payload', () => {
    const read: NbdRequest = { flags: 0, type: Cmd.READ, cookie: 7n, offset: 4096, length: 512 };
    checkSplits(encodeRequest(read), (r) => tryReadRequest(r), read);
    const data = Uint8Array.from({ length: 37 }, (_, i) => i);
    const write: NbdRequest = {
      flags: 1,
      type: Cmd.WRITE,
      cookie: 0xfedcba9876543210n,
      offset: 1 << 30,
      length: 37,
      data,
    };
    checkSplits(encodeRequest(write), (r) => tryReadRequest(r), write);
  });

  it('a write over the payload limit is returned without its data', () => {
    const reader = new ByteReader();
    reader.append(encodeRequest({ flags: 0, type: Cmd.WRITE, cookie: 1n, offset: 0, length: 100 }));
    expect(tryReadRequest(reader, 64)).toMatchObject({ payloadDropped: true, length: 100 });
  });

  it('a bad request magic throws', () => {
    const reader = new ByteReader();
    reader.append(new Uint8Array(28).fill(0xee));
    expect(() => tryReadRequest(reader)).toThrow(/bad request magic/);
  });

  it('simple replies, with read data sized by the pending request', () => {
    const data = new Uint8Array(100).fill(9);
    const lengths = (cookie: bigint) => (cookie === 5n ? 100 : undefined);
    checkSplits(encodeSimpleReply(5n, 0, data), (r) => tryReadReply(r, lengths), {
      kind: 'simple',
      cookie: 5n,
      error: 0,
      data,
    });
    checkSplits(encodeSimpleReply(5n, 22), (r) => tryReadReply(r, lengths), {
      kind: 'simple',
      cookie: 5n,
      error: 22,
      data: new Uint8Array(0),
    });
  });

  it('structured chunks of every kind', () => {
    const none = () => undefined;
    for (const frame of [
      encodeDataChunk(3n, 512, new Uint8Array(10).fill(1), false),
      encodeHoleChunk(3n, 1024, 4096, true),
      encodeBlockStatusChunk(
        3n,
        2,
        [
          { length: 65536, flags: 1 },
          { length: 4096, flags: 0 },
        ],
        true,
      ),
      encodeErrorChunk(3n, 5, 'broken'),
    ]) {
      const parsed = tryReadReply(new ByteReader(), none);
      expect(parsed).toBeNull();
      const reader = new ByteReader();
      reader.append(frame);
      const expected = tryReadReply(reader, none);
      expect(expected).toMatchObject({ kind: 'chunk', cookie: 3n });
      checkSplits(frame, (r) => tryReadReply(r, none), expected);
    }
  });

  it('chunk payloads carry what was encoded', () => {
    const reader = new ByteReader();
    reader.append(encodeHoleChunk(1n, 8192, 4096, true));
    const chunk = tryReadReply(reader, () => undefined);
    expect(chunk).toMatchObject({ kind: 'chunk', type: ReplyType.OFFSET_HOLE, flags: 1 });
    const view = new DataView((chunk?.kind === 'chunk' ? chunk.payload : new Uint8Array(12)).buffer);
    expect(view.getBigUint64(0)).toBe(8192n);
    expect(view.getUint32(8)).toBe(4096);
  });

  it('an unknown reply magic throws', () => {
    const reader = new ByteReader();
    reader.append(bytes(1, 2, 3, 4));
    expect(() => tryReadReply(reader, () => undefined)).toThrow(/bad reply magic/);
  });
});
