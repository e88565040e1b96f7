import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostFile } from '@strata/image-format';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { qcow2Opener } from '../drivers/qcow2-node.js';
import { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { addFileNode, addQcow2Node } from '../graph/open.js';
import { blockCommit } from '../job/block-commit.js';
import { blockdevBackup } from '../job/blockdev-backup.js';
import { blockdevCreate } from '../job/blockdev-create-job.js';
import { blockdevMirror } from '../job/blockdev-mirror.js';
import { JobManager } from '../job/job-manager.js';
import { jobTransaction } from '../transaction/job-transaction.js';
import { firstDifference, GuestModel } from '../test-support/guest-model.js';
import { qemu, qemuImgCheck } from '../test-support/qemu-tools.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-live-jobs-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function open(
  graph: BlockGraph,
  name: string,
  path: string,
  readOnly: boolean,
  backing: BlockNode | null,
) {
  const file = await addFileNode(graph, {
    file: await HostFile.open(path, { readOnly }),
    monitorOwned: false,
  });
  return addQcow2Node(graph, { nodeName: name, file, readOnly, backing, opener: qcow2Opener });
}

/** The guest-visible bytes of an image as qemu-img sees them (whole chain). */
async function contentOf(path: string): Promise<Uint8Array> {
  const raw = join(dir, `content-${Math.random().toString(36).slice(2)}.raw`);
  await qemu('qemu-img', ['convert', '-O', 'raw', path, raw]);
  return new Uint8Array(await readFile(raw));
}

const SIZE = 8 << 20;

/** base (written by qemu-io) <- top, opened in Strata with a guest on top. */
async function chain(graph: BlockGraph) {
  const base = join(dir, 'base.qcow2');
  const top = join(dir, 'top.qcow2');
  await qemu('qemu-img', ['create', '-f', 'qcow2', base, '8M']);
  await qemu('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 3M', '-c', 'write -P 0x12 5M 1M', base]);
  await qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top]);
  await qemu('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x33 1M 512K', '-c', 'write -P 0x34 7M 12345', top]);
  const initial = await contentOf(top);
  const baseNode = await open(graph, 'base', base, true, null);
  const topNode = await open(graph, 'top', top, false, baseNode);
  return { base, top, baseNode, topNode, initial };
}

describe('live jobs on real qcow2 files', () => {
  it('blockdev-create makes a file and a qcow2 image qemu-img accepts', async () => {
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const path = join(dir, 'created.qcow2');
    const cr1 = blockdevCreate(graph, jobs, {
      'job-id': 'cr1',
      options: { driver: 'file', filename: path, size: 0 },
    });
    await cr1.until((j) => j.status === 'concluded');
    expect(cr1.error).toBeNull();
    cr1.dismiss();
    await addFileNode(graph, { nodeName: 'cf', file: await HostFile.open(path) });
    const cr2 = blockdevCreate(graph, jobs, {
      'job-id': 'cr2',
      options: { driver: 'qcow2', file: 'cf', size: SIZE, 'cluster-size': 65536 },
    });
    await cr2.until((j) => j.status === 'concluded');
    expect(cr2.error).toBeNull();
    cr2.dismiss();
    await graph.closeAll();
    await qemuImgCheck(path);
    const info = JSON.parse(await qemu('qemu-img', ['info', '--output=json', path])) as Record<
      string,
      unknown
    >;
    expect(info['virtual-size']).toBe(SIZE);
    expect(info['format']).toBe('qcow2');
  });

  it('mirror to a new qcow2 with guest writes, complete: target equals the model and passes qemu-img check', async () => {
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const { top, base, topNode, initial } = await chain(graph);
    const dstPath = join(dir, 'dst.qcow2');
    await qemu('qemu-img', ['create', '-f', 'qcow2', dstPath, '8M']);
    const dst = await open(graph, 'dst', dstPath, false, null);
    const vda = BlockBackend.attach(graph, topNode, { name: 'vda' });
    const guest = new GuestModel(vda, initial, 7);
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'm',
      device: 'top',
      target: 'dst',
      sync: 'full',
    });
    await guest.randomWrites(40, 200000);
    await job.until((j) => j.status === 'ready');
    await guest.randomWrites(40, 200000);
    job.complete();
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(dst);
    await guest.randomWrites(10, 200000);
    vda.detach();
    await graph.closeAll();
    for (const path of [dstPath, top, base]) await qemuImgCheck(path);
    expect(firstDifference(await contentOf(dstPath), guest.model)).toBe(-1);
  });

  it('active commit with guest writes, complete: base equals the model; all images check clean', async () => {
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const { top, base, topNode, baseNode, initial } = await chain(graph);
    const vda = BlockBackend.attach(graph, topNode, { name: 'vda' });
    const guest = new GuestModel(vda, initial, 8);
    const job = await blockCommit(graph, jobs, { 'job-id': 'c2', device: 'top' });
    await guest.randomWrites(30, 200000);
    await job.until((j) => j.status === 'ready');
    await guest.randomWrites(30, 200000);
    job.complete();
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(baseNode);
    vda.detach();
    await graph.closeAll();
    for (const path of [top, base]) await qemuImgCheck(path);
    expect(firstDifference(await contentOf(base), guest.model)).toBe(-1);
  });

  it('intermediate commit rewrites the overlay header to the base; qemu-img sees the shortened chain', async () => {
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const { top, base, topNode, initial } = await chain(graph);
    const actPath = join(dir, 'act.qcow2');
    await qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'top.qcow2', '-F', 'qcow2', actPath]);
    await graph.reopen(topNode, true);
    const act = await open(graph, 'act', actPath, false, topNode);
    const vda = BlockBackend.attach(graph, act, { name: 'vda' });
    const guest = new GuestModel(vda, initial, 9);
    const job = await blockCommit(graph, jobs, { 'job-id': 'c1', device: 'act', 'top-node': 'top' });
    await guest.randomWrites(20, 100000);
    await job.until((j) => j.status === 'null');
    vda.detach();
    await graph.closeAll();
    for (const path of [actPath, top, base]) await qemuImgCheck(path);
    const info = JSON.parse(await qemu('qemu-img', ['info', '--output=json', actPath])) as Record<
      string,
      unknown
    >;
    expect(info['backing-filename']).toBe(base);
    expect(firstDifference(await contentOf(actPath), guest.model)).toBe(-1);
    expect(firstDifference(await contentOf(base), initial)).toBe(-1);
  });

  it('backup with guest writes: the target is the point-in-time image and checks clean', async () => {
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const { top, base, topNode, initial } = await chain(graph);
    const dstPath = join(dir, 'backup.qcow2');
    await qemu('qemu-img', ['create', '-f', 'qcow2', dstPath, '8M']);
    await open(graph, 'dst', dstPath, false, null);
    const vda = BlockBackend.attach(graph, topNode, { name: 'vda' });
    const guest = new GuestModel(vda, initial, 10);
    const job = await blockdevBackup(graph, jobs, {
      'job-id': 'b',
      device: 'top',
      target: 'dst',
      sync: 'full',
    });
    await guest.randomWrites(40, 200000);
    await job.until((j) => j.status === 'null');
    vda.detach();
    await graph.closeAll();
    for (const path of [dstPath, top, base]) await qemuImgCheck(path);
    expect(firstDifference(await contentOf(dstPath), initial)).toBe(-1);
    expect(firstDifference(await contentOf(top), guest.model)).toBe(-1);
  });

  it('drive-backup in a transaction with a bitmap: the created image is the point-in-time copy', async () => {
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const { top, base, topNode, initial } = await chain(graph);
    const vda = BlockBackend.attach(graph, topNode, { name: 'vda' });
    const guest = new GuestModel(vda, initial, 12);
    const dstPath = join(dir, 'drive-backup.qcow2');
    await jobTransaction(graph, jobs, [
      { type: 'block-dirty-bitmap-add', data: { node: 'top', name: 'since-full' } },
      { type: 'drive-backup', data: { 'job-id': 'db', device: 'top', target: dstPath, sync: 'full' } },
    ]);
    const job = jobs.find('db')!;
    await guest.randomWrites(30, 200000);
    await job.until((j) => j.status === 'null');
    // The image is closed once the job is gone (closing flushes, so give it its turns).
    for (let i = 0; i < 200 && graph.nodes.some((n) => n.filename === dstPath); i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(graph.nodes.some((n) => n.filename === dstPath)).toBe(false);
    expect(topNode.bitmaps.find((b) => b.name === 'since-full')!.store.count()).toBeGreaterThan(0);
    vda.detach();
    await graph.closeAll();
    for (const path of [dstPath, top, base]) await qemuImgCheck(path);
    expect(firstDifference(await contentOf(dstPath), initial)).toBe(-1);
  });

  for (const ending of [
    'cancel before ready',
    'soft cancel after ready',
    'force cancel after ready',
  ] as const) {
    it(`mirror ${ending} on real files: the guest stays on the source; images check clean`, async () => {
      const graph = new BlockGraph();
      const jobs = new JobManager();
      const { top, base, topNode, initial } = await chain(graph);
      const dstPath = join(dir, 'dst.qcow2');
      await qemu('qemu-img', ['create', '-f', 'qcow2', dstPath, '8M']);
      await open(graph, 'dst', dstPath, false, null);
      const vda = BlockBackend.attach(graph, topNode, { name: 'vda' });
      const guest = new GuestModel(vda, initial, 13);
      const job = await blockdevMirror(graph, jobs, {
        'job-id': 'm',
        device: 'top',
        target: 'dst',
        sync: 'full',
        speed: ending === 'cancel before ready' ? 1 << 20 : 0,
      });
      await guest.randomWrites(20, 100000);
      if (ending !== 'cancel before ready') {
        await job.until((j) => j.status === 'ready');
        await guest.randomWrites(20, 100000);
      }
      await jobs.blockJobCancel('m', ending === 'force cancel after ready');
      await job.until((j) => j.status === 'null');
      expect(vda.node).toBe(topNode);
      await guest.randomWrites(5, 100000);
      vda.detach();
      await graph.closeAll();
      for (const path of [dstPath, top, base]) await qemuImgCheck(path);
      expect(firstDifference(await contentOf(top), guest.model)).toBe(-1);
    });
  }
});
