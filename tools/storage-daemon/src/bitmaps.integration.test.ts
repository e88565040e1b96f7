import { join } from 'node:path';
import type { JsonObject, QmpClient } from '@strata/qmp-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkImage,
  createImage,
  DAEMONS,
  type DaemonSession,
  imageInfo,
  scratch,
  startDaemon,
  tool,
} from './test-support/daemons.js';
import { errorOf } from './test-support/qmp-error.js';

const MiB = 1024 * 1024;
const CLEAN = { errors: 0, leaks: 0, corruptions: 0 };

async function bitmaps(client: QmpClient, node: string): Promise<JsonObject[]> {
  const nodes = (await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[];
  return (nodes.find((n) => n['node-name'] === node)?.['dirty-bitmaps'] ?? []) as JsonObject[];
}

/** Bitmaps recorded in the image file, as qemu-img reports them. */
async function storedBitmaps(path: string): Promise<{ name: string; flags: string[] }[]> {
  const info = (await imageInfo(path)) as {
    'format-specific'?: { data?: { bitmaps?: { name: string; flags: string[] }[] } };
  };
  return (info['format-specific']?.data?.bitmaps ?? []).map(({ name, flags }) => ({ name, flags }));
}

/** An image with a persistent bitmap `b0` that saw 1 MiB of guest writes while qemu-io had it open. */
async function imageWithDirtyBitmap(dir: string): Promise<string> {
  const image = join(dir, 'disk.qcow2');
  await createImage(image, '4M');
  await tool('qemu-img', ['bitmap', '--add', image, 'b0']);
  await tool('qemu-io', ['-f', 'qcow2', '-c', 'write -P 7 0 1M', image]);
  return image;
}

describe.each(DAEMONS)('%s: dirty bitmaps', (kind) => {
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

  it('loads persistent bitmaps, runs every bitmap command and stores them back on quit', async () => {
    const image = await imageWithDirtyBitmap(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'disk',
      file: { driver: 'file', filename: image },
    });
    expect(await bitmaps(client, 'disk')).toEqual([
      { name: 'b0', recording: true, persistent: true, busy: false, granularity: 65536, count: MiB },
    ]);

    expect(await errorOf(client.executeRaw('block-dirty-bitmap-add', { node: 'disk', name: 'b0' }))).toEqual({
      class: 'GenericError',
      desc: 'Bitmap already exists: b0',
    });
    expect(await errorOf(client.executeRaw('block-dirty-bitmap-add', { node: 'nope', name: 'x' }))).toEqual({
      class: 'GenericError',
      desc: "Cannot find device='nope' nor node-name='nope'",
    });
    expect(
      await errorOf(
        client.executeRaw('block-dirty-bitmap-add', { node: 'disk', name: 'x', granularity: 1000 }),
      ),
    ).toEqual({ class: 'GenericError', desc: 'Granularity must be power of 2 and at least 512' });
    expect(
      await errorOf(client.executeRaw('block-dirty-bitmap-remove', { node: 'disk', name: 'nope' })),
    ).toEqual({
      class: 'GenericError',
      desc: "Dirty bitmap 'nope' not found",
    });
    expect(
      await errorOf(client.executeRaw('block-dirty-bitmap-clear', { node: 'nope', name: 'b0' })),
    ).toEqual({
      class: 'GenericError',
      desc: "Node 'nope' not found",
    });

    await client.executeRaw('block-dirty-bitmap-add', { node: 'disk', name: 'copy', disabled: true });
    await client.executeRaw('block-dirty-bitmap-merge', { node: 'disk', target: 'copy', bitmaps: ['b0'] });
    await client.executeRaw('block-dirty-bitmap-add', {
      node: 'disk',
      name: 'fine',
      granularity: 4096,
      persistent: true,
    });
    await client.executeRaw('block-dirty-bitmap-merge', {
      node: 'disk',
      target: 'fine',
      bitmaps: [{ node: 'disk', name: 'copy' }],
    });
    await client.executeRaw('block-dirty-bitmap-clear', { node: 'disk', name: 'b0' });
    await client.executeRaw('block-dirty-bitmap-disable', { node: 'disk', name: 'b0' });
    await client.executeRaw('block-dirty-bitmap-enable', { node: 'disk', name: 'copy' });
    expect(await bitmaps(client, 'disk')).toEqual([
      { name: 'fine', recording: true, persistent: true, busy: false, granularity: 4096, count: MiB },
      { name: 'copy', recording: true, persistent: false, busy: false, granularity: 65536, count: MiB },
      { name: 'b0', recording: false, persistent: true, busy: false, granularity: 65536, count: 0 },
    ]);
    await client.executeRaw('block-dirty-bitmap-remove', { node: 'disk', name: 'copy' });

    expect((await daemon.quit()).code).toBe(0);
    expect(await checkImage(image)).toEqual(CLEAN);
    expect((await storedBitmaps(image)).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'b0', flags: [] },
      { name: 'fine', flags: ['auto'] },
    ]);
  });

  it('stores persistent bitmaps and closes images cleanly on SIGTERM', async () => {
    const image = await imageWithDirtyBitmap(dir);
    daemon = await startDaemon(kind, dir, [
      '--blockdev',
      `driver=qcow2,node-name=disk,file.driver=file,file.filename=${image}`,
    ]);
    const { client } = daemon;
    await client.executeRaw('block-dirty-bitmap-add', { node: 'disk', name: 'added', persistent: true });
    expect((await bitmaps(client, 'disk')).map((b) => [b['name'], b['count']])).toEqual([
      ['added', 0],
      ['b0', MiB],
    ]);
    const ended = await daemon.kill('SIGTERM');
    expect(ended.code).toBe(0);
    expect(await checkImage(image)).toEqual(CLEAN);
    expect((await storedBitmaps(image)).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'added', flags: ['auto'] },
      { name: 'b0', flags: ['auto'] },
    ]);
    // The stored b0 still holds the writes made before the daemon ran.
    daemon = await startDaemon(kind, dir, [
      '--blockdev',
      `driver=qcow2,node-name=disk,file.driver=file,file.filename=${image}`,
    ]);
    expect((await bitmaps(daemon.client, 'disk')).find((b) => b['name'] === 'b0')?.['count']).toBe(MiB);
  });
});
