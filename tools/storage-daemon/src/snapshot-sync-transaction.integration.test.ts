import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonObject } from '@strata/qmp-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createImage,
  DAEMONS,
  type DaemonSession,
  imageInfo,
  readsPattern,
  scratch,
  startDaemon,
  writePattern,
} from './test-support/daemons.js';
import { errorOf } from './test-support/qmp-error.js';

const MiB = 1024 * 1024;

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe.each(DAEMONS)('%s: blockdev-snapshot-sync as a transaction action', (kind) => {
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

  async function start(): Promise<string> {
    const base = join(dir, 'base.qcow2');
    await createImage(base, String(4 * MiB));
    await writePattern(base, 0x31, 0, MiB);
    daemon = await startDaemon(kind, dir, [
      '--blockdev',
      `driver=qcow2,node-name=disk,file.driver=file,file.filename=${base}`,
    ]);
    return base;
  }

  it('creates the overlay over the node, together with a bitmap on the old node', async () => {
    const base = await start();
    const overlay = join(dir, 'overlay.qcow2');
    const { client } = daemon as DaemonSession;
    await client.executeRaw('transaction', {
      actions: [
        {
          type: 'blockdev-snapshot-sync',
          data: {
            'node-name': 'disk',
            'snapshot-file': overlay,
            'snapshot-node-name': 'snap',
            format: 'qcow2',
          },
        },
        { type: 'block-dirty-bitmap-add', data: { node: 'disk', name: 'since-snapshot' } },
      ],
    });
    const nodes = (await client.executeRaw('query-named-block-nodes')) as JsonObject[];
    const disk = nodes.find((n) => n['node-name'] === 'disk');
    expect(((disk?.['dirty-bitmaps'] ?? []) as JsonObject[]).map((b) => b['name'])).toEqual([
      'since-snapshot',
    ]);
    // With nothing above the old node, the new overlay is used by nobody and is closed at once.
    expect(nodes.map((n) => n['node-name'])).not.toContain('snap');
    const info = await imageInfo(overlay);
    expect(info['backing-filename']).toBe(base);
    expect(info['backing-filename-format']).toBe('qcow2');
    expect(info['virtual-size']).toBe(4 * MiB);
    expect((await daemon?.quit())?.code).toBe(0);
    expect(await readsPattern(overlay, 0x31, 0, MiB)).toBe(true);
  });

  it('undoes the snapshot when a later action fails: no node, the base stays active, the file stays', async () => {
    await start();
    const overlay = join(dir, 'overlay.qcow2');
    const { client } = daemon as DaemonSession;
    expect(
      await errorOf(
        client.executeRaw('transaction', {
          actions: [
            {
              type: 'blockdev-snapshot-sync',
              data: { 'node-name': 'disk', 'snapshot-file': overlay, 'snapshot-node-name': 'snap' },
            },
            { type: 'abort', data: {} },
          ],
        }),
      ),
    ).toEqual({ class: 'GenericError', desc: 'Transaction aborted using Abort action' });
    const nodes = (await client.executeRaw('query-named-block-nodes')) as JsonObject[];
    expect(nodes.map((n) => n['node-name'])).not.toContain('snap');
    // The image was created in prepare and is left behind, as QEMU leaves it.
    expect(await exists(overlay)).toBe(true);
    // The same snapshot, now without the abort, succeeds: nothing of the first attempt remains attached.
    await client.executeRaw('transaction', {
      actions: [
        {
          type: 'blockdev-snapshot-sync',
          data: { 'node-name': 'disk', 'snapshot-file': overlay, 'snapshot-node-name': 'snap' },
        },
      ],
    });
  });
});
