import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonStreamDecoder } from '../json/decoder.js';
import { isJsonObject, type JsonObject } from '../json/json-value.js';
import { QmpClient } from './client.js';

/**
 * A scripted peer that answers each request with events before and after the reply, and sends
 * everything one byte per write: the client must reassemble messages split at every offset and
 * match replies to requests while events arrive in between.
 */
let dir: string;
let peer: Server;
const sockets = new Set<Socket>();

function writeBytewise(socket: Socket, text: string): void {
  for (const byte of Buffer.from(text, 'utf8')) socket.write(Uint8Array.of(byte));
}

const event = (name: string, data: JsonObject): string =>
  `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "${name}", "data": ${JSON.stringify(data)}}\r\n`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-qmp-framing-'));
  peer = createServer((socket) => {
    sockets.add(socket);
    const decoder = new JsonStreamDecoder();
    writeBytewise(
      socket,
      '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n',
    );
    socket.on('data', (chunk: Buffer) => {
      for (const message of decoder.feed(chunk)) {
        if (message.kind !== 'value' || !isJsonObject(message.value)) continue;
        const id = JSON.stringify(message.value['id']);
        const command = String(message.value['execute']);
        writeBytewise(socket, event('JOB_STATUS_CHANGE', { status: 'running', id: `before-${command}` }));
        writeBytewise(socket, `{"return": {"answered": "${command}"}, "id": ${id}}\r\n`);
        writeBytewise(socket, event('JOB_STATUS_CHANGE', { status: 'ready', id: `after-${command}` }));
      }
    });
  });
  await new Promise<void>((resolve) => peer.listen(join(dir, 'peer.sock'), resolve));
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => peer.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('QmpClient framing', () => {
  it('matches replies to requests with events interleaved and every message split into single bytes', async () => {
    const client = await QmpClient.connect({ path: join(dir, 'peer.sock') });
    const listener = client.listen();
    const replies = await Promise.all([
      client.executeRaw('one'),
      client.executeRaw('two'),
      client.executeRaw('three'),
    ]);
    expect(replies).toEqual([{ answered: 'one' }, { answered: 'two' }, { answered: 'three' }]);
    // The event after the last reply may still be on its way.
    await listener.next((e) => (e.data as JsonObject)['id'] === 'after-three', 5000);
    const ids = [...listener.drain()].map((e) => (e.data as JsonObject)['id']);
    // The listener started after negotiation's reply: the event that followed that reply comes first.
    expect(ids).toEqual([
      'after-qmp_capabilities',
      'before-one',
      'after-one',
      'before-two',
      'after-two',
      'before-three',
    ]);
    listener.close();
    await client.close();
  });
});
