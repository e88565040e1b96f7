import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { addBitmap, removeBitmap } from '../bitmap/bitmap-commands.js';
import { blockdevAdd } from '../graph/blockdev-add.js';
import { BlockGraph } from '../graph/graph.js';
import { queryNamedBlockNodes } from '../graph/query.js';
import { qemu, qemuImgCheck } from '../test-support/qemu-tools.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-bitmaps-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openDisk(path: string) {
  const graph = new BlockGraph();
  const node = await blockdevAdd(graph, {
    driver: 'qcow2',
    'node-name': 'disk',
    file: { driver: 'file', filename: path },
  });
  return { graph, node };
}

function bitmapsOf(graph: BlockGraph) {
  return queryNamedBlockNodes(graph).find((n) => n['node-name'] === 'disk')!['dirty-bitmaps'];
}

it('persistent bitmaps made by qemu-img record writes through the graph and are stored back on close', async () => {
  const path = join(dir, 'disk.qcow2');
  await qemu('qemu-img', ['create', '-f', 'qcow2', path, '16M']);
  await qemu('qemu-img', ['bitmap', '--add', '-g', '65536', path, 'b0']);
  await qemu('qemu-img', ['bitmap', '--add', '--disable', path, 'off']);
  await qemu('qemu-img', ['bitmap', '--add', path, 'drop']);

  let { graph, node } = await openDisk(path);
  // Exactly what qemu-storage-daemon 7.2 lists for this image (checked by hand against it).
  expect(bitmapsOf(graph)).toEqual([
    { name: 'drop', recording: true, persistent: true, busy: false, granularity: 65536, count: 0 },
    { name: 'off', recording: false, persistent: true, busy: false, granularity: 65536, count: 0 },
    { name: 'b0', recording: true, persistent: true, busy: false, granularity: 65536, count: 0 },
  ]);
  const vda = BlockBackend.attach(graph, node, { name: 'vda' });
  await vda.write(new Uint8Array(1000).fill(1), 65536 * 3 + 10);
  addBitmap(graph, { node: 'disk', name: 'new', persistent: true, granularity: 4096 });
  addBitmap(graph, { node: 'disk', name: 'temp' });
  removeBitmap(graph, 'disk', 'drop');
  await vda.write(new Uint8Array(10).fill(2), 8 << 20);
  vda.detach();
  await graph.closeAll();

  expect(await qemuImgCheck(path)).toMatchObject({ 'check-errors': 0 });
  const info = JSON.parse(await qemu('qemu-img', ['info', '--output=json', path])) as {
    'format-specific': { data: { bitmaps: Array<{ name: string; flags: string[]; granularity: number }> } };
  };
  const stored = info['format-specific'].data.bitmaps;
  expect(stored.map((b) => [b.name, b.flags, b.granularity]).sort()).toEqual([
    ['b0', ['auto'], 65536],
    ['new', ['auto'], 4096],
    ['off', [], 65536],
  ]);

  ({ graph, node } = await openDisk(path));
  const counts = Object.fromEntries((bitmapsOf(graph) ?? []).map((b) => [b.name, b.count]));
  expect(counts).toEqual({ b0: 2 * 65536, off: 0, new: 4096 });
  const b0 = node.bitmaps.find((b) => b.name === 'b0')!;
  expect(b0.store.nextDirty(0)).toEqual({ offset: 3 * 65536, length: 65536 });
  await graph.closeAll();
});

it('a bitmap left in use by a crashed writer is inconsistent and can only be removed', async () => {
  const path = join(dir, 'crashed.qcow2');
  await qemu('qemu-img', ['create', '-f', 'qcow2', path, '16M']);
  await qemu('qemu-img', ['bitmap', '--add', path, 'stale']);
  // Open read-write (marks the bitmap in use) and never close: what a crash leaves behind.
  const crashed = await openDisk(path);
  void crashed;
  const { graph } = await openDisk(path);
  expect(bitmapsOf(graph)).toEqual([
    {
      name: 'stale',
      recording: false,
      persistent: true,
      busy: false,
      granularity: 65536,
      count: 0,
      inconsistent: true,
    },
  ]);
  removeBitmap(graph, 'disk', 'stale');
  await graph.closeAll();
  const info = JSON.parse(await qemu('qemu-img', ['info', '--output=json', path])) as {
    'format-specific': { data: { bitmaps?: unknown[] } };
  };
  expect(info['format-specific'].data.bitmaps ?? []).toEqual([]);
});
