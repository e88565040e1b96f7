import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cmd, IHAVEOPT, Info, NbdErrno, Opt, Rep, ReplyType } from './constants.js';
import {
  encodeClientFlags,
  encodeExportInfoRequest,
  encodeMetaContextRequest,
  encodeOption,
  tryReadExportNameReply,
  tryReadGreeting,
  tryReadOptionReply,
} from './handshake-codec.js';
import { encodeRequest, tryReadReply } from './transmission-codec.js';
import { peer } from './test-support/peers.js';
import { RawClient } from './test-support/raw-client.js';
import { type ServedImage, serveImage } from './test-support/serve.js';

const SIZE = 1 << 20;
let dir: string;
let served: ServedImage;
const clients: RawClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-nbd-hostile-'));
  const path = join(dir, 'h.qcow2');
  await peer('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(SIZE)]);
  await peer('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x61 0 64k', path]);
  served = await serveImage(dir, path, {}, { handshakeTimeoutMs: 400 });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await served.close();
  await rm(dir, { recursive: true, force: true });
});

async function client(): Promise<RawClient> {
  const c = await RawClient.connect(served.socket);
  clients.push(c);
  expect(await c.next(tryReadGreeting)).toBe(3);
  return c;
}

/** A client in the transmission phase, with structured replies if asked. */
async function transmitting(structured: boolean): Promise<RawClient> {
  const c = await client();
  c.send(encodeClientFlags(3));
  if (structured) {
    c.send(encodeOption(Opt.STRUCTURED_REPLY));
    expect(await c.next((r) => tryReadOptionReply(r))).toMatchObject({ type: Rep.ACK });
  }
  c.send(encodeOption(Opt.GO, encodeExportInfoRequest({ name: 'disk', infoRequests: [] })));
  for (;;) {
    const reply = await c.next((r) => tryReadOptionReply(r));
    if (!reply || reply.type === Rep.ACK) break;
  }
  return c;
}

/** The server still serves a well-behaved client (a real one). */
async function stillServing(): Promise<void> {
  const out = await peer('qemu-io', ['-f', 'raw', '-r', '-c', 'read -P 0x61 0 64k', served.uri()]);
  expect(out).toContain('read 65536/65536');
}

const replyOf = (c: RawClient) => c.next((r) => tryReadReply(r, () => undefined));

describe('hostile NBD clients', () => {
  it('unknown client flags close the connection', async () => {
    const c = await client();
    c.send(encodeClientFlags(0x80));
    await c.closed;
    await stillServing();
  });

  it('a bad option magic closes the connection', async () => {
    const c = await client();
    c.send(encodeClientFlags(3));
    c.send(new Uint8Array(16).fill(0x42));
    await c.closed;
    await stillServing();
  });

  it('an option longer than 32 MiB closes the connection', async () => {
    const c = await client();
    c.send(encodeClientFlags(3));
    const head = new DataView(new ArrayBuffer(16));
    head.setBigUint64(0, IHAVEOPT);
    head.setUint32(8, Opt.GO);
    head.setUint32(12, (32 << 20) + 1);
    c.send(new Uint8Array(head.buffer));
    await c.closed;
    await stillServing();
  });

  it('unknown options get ERR_UNSUP and the handshake goes on', async () => {
    const c = await client();
    c.send(encodeClientFlags(3));
    c.send(encodeOption(99, new Uint8Array([1, 2, 3])));
    expect(await c.next((r) => tryReadOptionReply(r))).toMatchObject({ option: 99, type: Rep.ERR_UNSUP });
    c.send(encodeOption(Opt.STARTTLS));
    expect(await c.next((r) => tryReadOptionReply(r))).toMatchObject({ type: Rep.ERR_POLICY });
    c.send(encodeOption(Opt.SET_META_CONTEXT, encodeMetaContextRequest({ exportName: 'disk', queries: [] })));
    expect(await c.next((r) => tryReadOptionReply(r))).toMatchObject({ type: Rep.ERR_INVALID });
    c.send(encodeOption(Opt.GO, new Uint8Array([0, 0, 0, 50, 1])));
    expect(await c.next((r) => tryReadOptionReply(r))).toMatchObject({ type: Rep.ERR_INVALID });
    c.send(encodeOption(Opt.INFO, encodeExportInfoRequest({ name: 'nope', infoRequests: [Info.NAME] })));
    expect(await c.next((r) => tryReadOptionReply(r))).toMatchObject({ type: Rep.ERR_UNKNOWN });
    c.send(encodeOption(Opt.ABORT));
    expect(await c.next((r) => tryReadOptionReply(r))).toMatchObject({ option: Opt.ABORT, type: Rep.ACK });
    await c.closed;
  });

  it('an old client without fixed newstyle may only use EXPORT_NAME', async () => {
    const c = await client();
    c.send(encodeClientFlags(0));
    c.send(encodeOption(Opt.EXPORT_NAME, new TextEncoder().encode('disk')));
    // Size, flags, then 124 zero bytes because the client did not ask for "no zeroes".
    expect(await c.next((r) => tryReadExportNameReply(r, false))).toEqual({
      size: SIZE,
      flags: 0x0ded & ~0x80,
    }); // QEMU's writable-export flags, DF needs structured replies
    c.send(encodeRequest({ flags: 0, type: Cmd.READ, cookie: 1n, offset: 0, length: 2 }));
    expect(await c.next((r) => tryReadReply(r, () => 2))).toMatchObject({
      error: 0,
      data: new Uint8Array([0x61, 0x61]),
    });
    const other = await client();
    other.send(encodeClientFlags(0));
    other.send(encodeOption(Opt.LIST));
    await other.closed;
    const unknown = await client();
    unknown.send(encodeClientFlags(3));
    unknown.send(encodeOption(Opt.EXPORT_NAME, new TextEncoder().encode('nope')));
    await unknown.closed;
  });

  it('oversized and out-of-range requests get error replies and the connection stays usable', async () => {
    const c = await transmitting(false);
    const cases: Array<[Parameters<typeof encodeRequest>[0], number]> = [
      [{ flags: 0, type: Cmd.READ, cookie: 1n, offset: 0, length: 64 << 20 }, NbdErrno.EINVAL],
      [{ flags: 0, type: Cmd.READ, cookie: 2n, offset: SIZE - 10, length: 20 }, NbdErrno.EINVAL],
      [
        { flags: 0, type: Cmd.WRITE, cookie: 3n, offset: SIZE, length: 1, data: new Uint8Array(1) },
        NbdErrno.ENOSPC,
      ],
      [{ flags: 0, type: Cmd.READ, cookie: 4n, offset: 2 ** 63, length: 1 }, NbdErrno.EINVAL],
      [{ flags: 0x40, type: Cmd.READ, cookie: 5n, offset: 0, length: 1 }, NbdErrno.EINVAL],
      [{ flags: 0, type: 77, cookie: 6n, offset: 0, length: 1 }, NbdErrno.EINVAL],
      [{ flags: 0, type: Cmd.BLOCK_STATUS, cookie: 7n, offset: 0, length: 4096 }, NbdErrno.EINVAL],
    ];
    for (const [request, errno] of cases) {
      c.send(encodeRequest(request));
      expect(await replyOf(c)).toMatchObject({ kind: 'simple', cookie: request.cookie, error: errno });
    }
    c.send(encodeRequest({ flags: 0, type: Cmd.READ, cookie: 9n, offset: 0, length: 4 }));
    const ok = await c.next((r) => tryReadReply(r, () => 4));
    expect(ok).toMatchObject({ kind: 'simple', error: 0, data: new Uint8Array([0x61, 0x61, 0x61, 0x61]) });
  });

  it('errors come as ERROR chunks once structured replies are on', async () => {
    const c = await transmitting(true);
    c.send(encodeRequest({ flags: 0, type: Cmd.TRIM, cookie: 1n, offset: SIZE, length: 512 }));
    const reply = await replyOf(c);
    expect(reply).toMatchObject({ kind: 'chunk', type: ReplyType.ERROR, flags: 1 });
    if (reply?.kind !== 'chunk') throw new Error('expected a chunk');
    expect(new DataView(reply.payload.buffer).getUint32(0)).toBe(NbdErrno.EINVAL);
  });

  it('a write over the payload limit gets an error and the connection is closed', async () => {
    const c = await transmitting(false);
    c.send(encodeRequest({ flags: 0, type: Cmd.WRITE, cookie: 1n, offset: 0, length: 40 << 20 }));
    expect(await replyOf(c)).toMatchObject({ cookie: 1n, error: NbdErrno.EINVAL });
    await c.closed;
    await stillServing();
  });

  it('a request cut mid-way, then a hang-up, leaves the server serving', async () => {
    const c = await transmitting(false);
    const frame = encodeRequest({
      flags: 0,
      type: Cmd.WRITE,
      cookie: 1n,
      offset: 0,
      length: 4096,
      data: new Uint8Array(4096),
    });
    c.send(frame.subarray(0, 100));
    c.socket.end();
    await c.closed;
    await stillServing();
    await served.server.removeExport('exp0', 'safe');
    expect(served.server.queryExports()).toEqual([]);
  });

  it('garbage after the handshake closes the connection', async () => {
    const c = await transmitting(true);
    c.send(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n'));
    await c.closed;
    await stillServing();
  });

  it('hundreds of idle connections: over the limit are refused at once, the rest time out, then clients are served', async () => {
    await served.close();
    served = await serveImage(dir, join(dir, 'h.qcow2'), {}, { handshakeTimeoutMs: 3000 });
    const idle = await Promise.all(Array.from({ length: 150 }, () => RawClient.connect(served.socket)));
    clients.push(...idle);
    const refused = () => idle.filter((c) => c.isClosed).length;
    for (let i = 0; i < 200 && refused() + served.server.connectionCount < 150; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(served.server.connectionCount).toBe(100);
    expect(refused()).toBe(50);
    await Promise.all(idle.map((c) => c.closed));
    expect(served.server.connectionCount).toBe(0);
    await stillServing();
  });

  it('an idle client within the limit does not block others, and block-export-del safe refuses while in use', async () => {
    const idle = await client();
    await stillServing();
    const user = await transmitting(false);
    await expect(served.server.removeExport('exp0', 'safe')).rejects.toThrow(/still in use/);
    await served.server.removeExport('exp0', 'hard');
    await user.closed;
    await idle.closed;
  });
});
