import { join } from 'node:path';
import type { JsonObject, QmpClient } from '@strata/qmp-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkImage,
  createImage,
  DAEMONS,
  type DaemonSession,
  readsPattern,
  scratch,
  startDaemon,
  tool,
  writePattern,
} from './test-support/daemons.js';
import { errorOf } from './test-support/qmp-error.js';

const MiB = 1024 * 1024;
const CLEAN = { errors: 0, leaks: 0, corruptions: 0 };

async function bitmapCount(client: QmpClient, node: string, name: string): Promise<unknown> {
  const nodes = (await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[];
  const bitmaps = (nodes.find((n) => n['node-name'] === node)?.['dirty-bitmaps'] ?? []) as JsonObject[];
  return bitmaps.find((b) => b['name'] === name)?.['count'];
}

/** qemu-io through an NBD export: the guest's write path into the running daemon. */
const nbdUri = (socket: string, name: string) => `nbd+unix:///${name}?socket=${socket}`;

describe.each(DAEMONS)('%s: NBD exports', (kind) => {
  let dir: string;
  let remove: () => Promise<void>;
  let daemon: DaemonSession | undefined;
  beforeEach(async () => {
    ({ dir, remove } = await scratch());
  });
  afterEach(async () => {
    if (daemon && daemon.process.exitCode === null) await daemon.quit();
    daemon = undefined;
    await remove();
  });

  it('exports a node from the command line; guest writes over NBD dirty a bitmap and reach the image', async () => {
    const image = join(dir, 'disk.qcow2');
    const socket = join(dir, 'nbd.sock');
    await createImage(image, '4M');
    await writePattern(image, 0x21, 0, MiB);
    await tool('qemu-img', ['bitmap', '--add', image, 'b0']);
    daemon = await startDaemon(kind, dir, [
      '--blockdev',
      `driver=qcow2,node-name=disk,file.driver=file,file.filename=${image}`,
      '--nbd-server',
      `addr.type=unix,addr.path=${socket}`,
      '--export',
      'type=nbd,id=e0,node-name=disk,name=vda,writable=on',
    ]);
    const { client } = daemon;
    expect(await client.executeRaw('query-block-exports')).toEqual([
      { type: 'nbd', id: 'e0', 'node-name': 'disk', 'shutting-down': false },
    ]);
    expect(await bitmapCount(client, 'disk', 'b0')).toBe(0);
    await tool('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0x42 1M 64k',
      '-c',
      'write -P 0x43 3M 4k',
      nbdUri(socket, 'vda'),
    ]);
    expect(await bitmapCount(client, 'disk', 'b0')).toBe(2 * 65536);
    const { stdout } = await tool('qemu-io', [
      '-r',
      '-f',
      'raw',
      '-c',
      'read -P 0x21 0 1M',
      nbdUri(socket, 'vda'),
    ]);
    expect(stdout).not.toContain('Pattern verification failed');
    expect((await daemon.quit()).code).toBe(0);
    expect(await readsPattern(image, 0x21, 0, MiB)).toBe(true);
    expect(await readsPattern(image, 0x42, MiB, 65536)).toBe(true);
    expect(await readsPattern(image, 0x43, 3 * MiB, 4096)).toBe(true);
    expect(await checkImage(image)).toEqual(CLEAN);
  });

  it('runs the NBD server and exports over QMP with QEMU errors and events', async () => {
    const image = join(dir, 'disk.qcow2');
    const socket = join(dir, 'nbd.sock');
    await createImage(image, '4M');
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'src',
      file: { driver: 'file', filename: image },
    });
    expect(await errorOf(client.executeRaw('nbd-server-stop'))).toEqual({
      class: 'GenericError',
      desc: 'NBD server not running',
    });
    expect(
      await errorOf(client.executeRaw('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'src' })),
    ).toEqual({
      class: 'GenericError',
      desc: 'NBD server not running',
    });
    expect(await errorOf(client.executeRaw('block-export-del', { id: 'e' }))).toEqual({
      class: 'GenericError',
      desc: "Export 'e' is not found",
    });
    expect(
      await errorOf(client.executeRaw('nbd-server-start', { addr: { type: 'unix', path: socket } })),
    ).toEqual({
      class: 'GenericError',
      desc: "Parameter 'addr.data' is missing",
    });
    await client.executeRaw('nbd-server-start', { addr: { type: 'unix', data: { path: socket } } });
    expect(
      await errorOf(
        client.executeRaw('nbd-server-start', { addr: { type: 'unix', data: { path: `${socket}2` } } }),
      ),
    ).toEqual({ class: 'GenericError', desc: 'NBD server already running' });
    expect(
      await errorOf(client.executeRaw('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'nope' })),
    ).toEqual({
      class: 'GenericError',
      desc: "Cannot find device='' nor node-name='nope'",
    });
    await client.executeRaw('block-dirty-bitmap-add', { node: 'src', name: 'bm0' });
    await client.executeRaw('block-export-add', {
      type: 'nbd',
      id: 'e1',
      'node-name': 'src',
      name: 'exp',
      writable: true,
      bitmaps: ['bm0'],
    });
    expect(await client.executeRaw('query-block-exports')).toEqual([
      { type: 'nbd', id: 'e1', 'node-name': 'src', 'shutting-down': false },
    ]);
    await tool('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 2M 64k', nbdUri(socket, 'exp')]);
    expect(await bitmapCount(client, 'src', 'bm0')).toBe(65536);
    const deleted = client.listen({ names: ['BLOCK_EXPORT_DELETED'] });
    await client.executeRaw('block-export-del', { id: 'e1' });
    expect((await deleted.next(undefined, 30_000)).data).toEqual({ id: 'e1' });
    deleted.close();
    expect(await client.executeRaw('query-block-exports')).toEqual([]);
    await client.executeRaw('nbd-server-stop');
    expect((await daemon.quit()).code).toBe(0);
    expect(await readsPattern(image, 0x5a, 2 * MiB, 65536)).toBe(true);
    expect(await checkImage(image)).toEqual(CLEAN);
  });
});
