import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockGraph } from '../graph/graph.js';
import { blockdevAdd } from '../graph/blockdev-add.js';
import { qemu } from '../test-support/qemu-tools.js';
import { qsdSession } from '../test-support/qsd-session.js';
import { qmpTransaction } from './qmp-transaction.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-snapsync-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function infoOf(path: string) {
  const info = JSON.parse(await qemu('qemu-img', ['info', '--output=json', path])) as Record<string, unknown>;
  return {
    format: info['format'],
    size: info['virtual-size'],
    backing:
      typeof info['backing-filename'] === 'string'
        ? (info['backing-filename'] as string).replace(dir, '<dir>')
        : null,
    backingFormat: info['backing-filename-format'] ?? null,
  };
}

/** Runs the same transaction in qemu-storage-daemon and in Strata, each on its own copy of the disk. */
async function both(
  name: string,
  actions: (file: string) => Array<{ type: string; data: unknown }>,
  used = true,
) {
  const results: Array<{
    error: string | null;
    file: Awaited<ReturnType<typeof infoOf>> | null;
    nodes: string[];
  }> = [];
  for (const side of ['qemu', 'strata'] as const) {
    const base = join(dir, `${name}-${side}-base.qcow2`);
    const overlay = join(dir, `${name}-overlay.qcow2`);
    rmSync(overlay, { force: true });
    await qemu('qemu-img', ['create', '-f', 'qcow2', base, '4M']);
    let error: string | null = null;
    let nodes: string[];
    if (side === 'qemu') {
      const qsd = await qsdSession(
        dir,
        [
          '--blockdev',
          `driver=file,node-name=disk-file,filename=${base}`,
          '--blockdev',
          'driver=qcow2,node-name=disk,file=disk-file',
        ],
        used ? 'disk' : null,
      );
      const reply = await qsd.execute('transaction', { actions: actions(overlay) });
      error = reply['error'] ? (reply['error'] as { desc: string }).desc : null;
      const listed = (await qsd.execute('query-named-block-nodes'))['return'] as Array<{
        'node-name': string;
      }>;
      nodes = listed
        .map((n) => n['node-name'])
        .filter((n) => !n.startsWith('#'))
        .sort();
      await qsd.quit();
    } else {
      const graph = new BlockGraph();
      await blockdevAdd(graph, {
        driver: 'qcow2',
        'node-name': 'disk',
        file: { driver: 'file', 'node-name': 'disk-file', filename: base },
      });
      const user = used ? BlockBackend.attach(graph, graph.require('disk'), { name: '' }) : null;
      try {
        await qmpTransaction(graph, actions(overlay));
      } catch (e) {
        error = (e as Error).message;
      }
      nodes = graph.nodes
        .map((n) => n.name)
        .filter((n) => !n.startsWith('#'))
        .sort();
      user?.detach();
      await graph.closeAll();
    }
    const file = existsSync(overlay) ? await infoOf(overlay) : null;
    if (file?.backing) file.backing = file.backing.replace(`${name}-${side}-base`, `${name}-SIDE-base`);
    results.push({ error, file, nodes });
    rmSync(overlay, { force: true });
  }
  expect(results[1]).toEqual(results[0]);
  return results[0]!;
}

it('blockdev-snapshot-sync creates the same overlay as qemu-storage-daemon', async () => {
  const result = await both('ok', (file) => [
    {
      type: 'blockdev-snapshot-sync',
      data: { 'node-name': 'disk', 'snapshot-file': file, 'snapshot-node-name': 'top' },
    },
  ]);
  expect(result).toMatchObject({ error: null, nodes: ['disk', 'disk-file', 'top'] });
  expect(result.file).toEqual({
    format: 'qcow2',
    size: 4 << 20,
    backing: '<dir>/ok-SIDE-base.qcow2',
    backingFormat: 'qcow2',
  });
});

it('an overlay over a node nobody uses is dropped again at the end, as in qemu-storage-daemon', async () => {
  const result = await both(
    'unused',
    (file) => [
      {
        type: 'blockdev-snapshot-sync',
        data: { 'node-name': 'disk', 'snapshot-file': file, 'snapshot-node-name': 'top' },
      },
    ],
    false,
  );
  expect(result).toMatchObject({ error: null, nodes: ['disk', 'disk-file'] });
  expect(result.file?.backing).toBe('<dir>/unused-SIDE-base.qcow2');
});

it('an aborted blockdev-snapshot-sync removes the node and leaves the file as qemu-storage-daemon does', async () => {
  const result = await both('abort', (file) => [
    {
      type: 'blockdev-snapshot-sync',
      data: { 'node-name': 'disk', 'snapshot-file': file, 'snapshot-node-name': 'top' },
    },
    { type: 'abort', data: {} },
  ]);
  expect(result.error).toBe('Transaction aborted using Abort action');
  expect(result.nodes).toEqual(['disk', 'disk-file']);
  expect(result.file).not.toBeNull();
});

it('refusals match qemu-storage-daemon (missing overlay node name, name in use)', async () => {
  const missing = await both('missing', (file) => [
    { type: 'blockdev-snapshot-sync', data: { 'node-name': 'disk', 'snapshot-file': file } },
  ]);
  expect(missing.error).toBe('New overlay node-name missing');
  const taken = await both('taken', (file) => [
    {
      type: 'blockdev-snapshot-sync',
      data: { 'node-name': 'disk', 'snapshot-file': file, 'snapshot-node-name': 'disk-file' },
    },
  ]);
  expect(taken.error).toBe('New overlay node-name already in use');
});
