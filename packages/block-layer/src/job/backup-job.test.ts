import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { addBitmap } from '../bitmap/bitmap-commands.js';
import { PassThroughFilter } from '../drivers/filter-node.js';
import { BlockGraph } from '../graph/graph.js';
import { EventLog } from '../test-support/event-log.js';
import { firstDifference, GuestModel } from '../test-support/guest-model.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { eventShape, jobEvents, loadTranscript } from '../test-support/transcript.js';
import { blockdevBackup } from './blockdev-backup.js';
import { JobManager } from './job-manager.js';

const SIZE = 2 << 20;
const CLUSTER = 65536;

/** A filter whose writes fail while `failing` is set (like blkdebug's inject-error). */
class FailingWrites extends PassThroughFilter {
  failing = 0;
  constructor(name: string) {
    super('blkdebug', name, { role: 'file' });
  }
  protected override async doWrite(buf: Uint8Array, offset: number): Promise<void> {
    if (this.failing > 0) {
      this.failing--;
      throw Object.assign(new Error('Input/output error'), { code: 'EIO' });
    }
    return super.doWrite(buf, offset);
  }
}

async function setup() {
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const log = new EventLog(jobs);
  const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE, clusterSize: CLUSTER });
  await base.node.write(filled(SIZE / 2, 5), 0);
  await graph.reopen(base.node, true);
  const src = await addMemoryImage(graph, {
    nodeName: 'src',
    size: SIZE,
    clusterSize: CLUSTER,
    backing: base.node,
  });
  await src.node.write(filled(2 * CLUSTER, 6), 3 * CLUSTER);
  const initial = new Uint8Array(SIZE);
  initial.fill(5, 0, SIZE / 2);
  initial.fill(6, 3 * CLUSTER, 5 * CLUSTER);
  const dst = await addMemoryImage(graph, { nodeName: 'dst', size: SIZE, clusterSize: CLUSTER });
  const vda = BlockBackend.attach(graph, src.node, { name: 'vda' });
  const guest = new GuestModel(vda, initial, 17);
  return { graph, jobs, log, base, src, dst, vda, guest, initial };
}

async function same(node: Parameters<typeof readNode>[0], model: Uint8Array): Promise<number> {
  return firstDifference(await readNode(node, 0, model.length), model);
}

describe('backup job', () => {
  it('sync=full: the target holds the source as it was at the start, despite guest writes', async () => {
    const { graph, jobs, log, src, dst, vda, guest, initial } = await setup();
    const job = await blockdevBackup(graph, jobs, {
      'job-id': 'b-full',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    expect(vda.node.driver).toBe('copy-before-write');
    await guest.randomWrites(40);
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(src.node);
    expect(await same(dst.node, initial)).toBe(-1);
    expect(await same(src.node, guest.model)).toBe(-1);
    expect(log.of('b-full').map(eventShape)).toEqual(
      jobEvents(loadTranscript('backup-transaction-bitmaps.txt'), 'b-full').map(eventShape),
    );
  });

  it('sync=top copies only the top layer', async () => {
    const { graph, jobs, dst } = await setup();
    const job = await blockdevBackup(graph, jobs, {
      'job-id': 'b',
      device: 'src',
      target: 'dst',
      sync: 'top',
    });
    await job.until((j) => j.status === 'null');
    expect((await readNode(dst.node, 0, 10)).every((b) => b === 0)).toBe(true);
    expect((await readNode(dst.node, 3 * CLUSTER, 10)).every((b) => b === 6)).toBe(true);
  });

  it('sync=none (fleecing) copies only what the guest overwrites, until cancelled', async () => {
    const { graph, jobs, log, dst, guest, initial } = await setup();
    const job = await blockdevBackup(graph, jobs, {
      'job-id': 'f',
      device: 'src',
      target: 'dst',
      sync: 'none',
    });
    await guest.write(3 * CLUSTER + 10, 100, 0x99);
    expect((await readNode(dst.node, 3 * CLUSTER, CLUSTER)).every((b) => b === 6)).toBe(true);
    expect((await dst.node.blockStatus(0, CLUSTER))[0]!.status).toBe('unallocated');
    await jobs.blockJobCancel('f');
    await job.until((j) => j.status === 'null');
    expect(log.names('f')).toContain('BLOCK_JOB_CANCELLED');
    void initial;
  });

  for (const [mode, success, expectedAfter] of [
    ['on-success', true, 'new'],
    ['on-success', false, 'old+new'],
    ['never', true, 'old+new'],
    ['always', false, 'new+left'],
  ] as const) {
    it(`sync=bitmap, bitmap-mode=${mode}, ${success ? 'success' : 'failure'}: the bitmap becomes ${expectedAfter}`, async () => {
      const { graph, jobs, src, guest, initial } = await setup();
      addBitmap(graph, { node: 'src', name: 'bm', granularity: CLUSTER });
      await guest.write(0, 100, 1); // cluster 0 dirty before the backup
      await guest.write(8 * CLUSTER, 100, 1); // cluster 8 dirty before the backup
      const snapshot = guest.model.slice();
      const failing = new FailingWrites('bad');
      graph.register(failing);
      graph.attachChild(
        failing,
        (await addMemoryImage(graph, { nodeName: 'inner', size: SIZE, clusterSize: CLUSTER })).node,
        'file',
      );
      if (!success) failing.failing = 1000;
      const job = await blockdevBackup(graph, jobs, {
        'job-id': 'i',
        device: 'src',
        target: 'bad',
        sync: 'bitmap',
        bitmap: 'bm',
        'bitmap-mode': mode,
      });
      const bitmap = src.node.bitmaps.find((b) => b.name === 'bm')!;
      expect(bitmap.busy).toBe(true);
      await guest.write(20 * CLUSTER, 100, 2); // cluster 20: a write during the backup
      await job.until((j) => j.status === 'null');
      expect(bitmap.busy).toBe(false);
      const dirty = [0, 8, 20].filter((c) => bitmap.store.isDirty(c * CLUSTER));
      if (expectedAfter === 'new') expect(dirty).toEqual([20]);
      else expect(dirty).toEqual([0, 8, 20]);
      if (success) {
        expect((await readNode(failing, 0, 100)).every((b) => b === 1)).toBe(true);
        expect((await readNode(failing, 20 * CLUSTER, 100)).every((b) => b === 0)).toBe(true);
      }
      void snapshot;
      void initial;
    });
  }

  it('target write errors: report fails the job, stop pauses and resumes, ignore retries', async () => {
    for (const policy of ['report', 'stop', 'ignore'] as const) {
      const { graph, jobs, log, dst, initial } = await setup();
      const failing = new FailingWrites(`bad-${policy}`);
      graph.register(failing);
      graph.attachChild(failing, dst.node, 'file');
      failing.failing = 1;
      const job = await blockdevBackup(graph, jobs, {
        'job-id': policy,
        device: 'src',
        target: failing.name,
        sync: 'full',
        'on-target-error': policy,
      });
      if (policy === 'stop') {
        await job.until((j) => j.status === 'paused' && j.userPaused);
        expect(job.blockInfo()['io-status']).toBe('failed');
        job.userResume();
      }
      await job.until((j) => j.status === 'null');
      const errors = log.of(policy).filter((e) => e.event === 'BLOCK_JOB_ERROR');
      expect(errors[0]!.data).toMatchObject({ operation: 'write', action: policy });
      const completed = log.of(policy).find((e) => e.event === 'BLOCK_JOB_COMPLETED')!;
      if (policy === 'report') expect(completed.data['error']).toBe('Input/output error');
      else {
        expect(completed.data['error']).toBeUndefined();
        expect(await same(dst.node, initial)).toBe(-1);
      }
    }
  });

  it('refuses bad bitmap arguments with QEMU messages and changes nothing', async () => {
    const { graph, jobs, vda, src } = await setup();
    addBitmap(graph, { node: 'src', name: 'bm0' });
    const args = { 'job-id': 'b-x', device: 'src', target: 'dst' } as const;
    await expect(blockdevBackup(graph, jobs, { ...args, sync: 'bitmap', bitmap: 'bm0' })).rejects.toThrow(
      'Bitmap sync mode must be given when providing a bitmap',
    );
    await expect(
      blockdevBackup(graph, jobs, { ...args, sync: 'incremental', bitmap: 'bm0', 'bitmap-mode': 'never' }),
    ).rejects.toThrow("Bitmap sync mode must be 'on-success' when using sync mode 'incremental'");
    await expect(blockdevBackup(graph, jobs, { ...args, sync: 'incremental' })).rejects.toThrow(
      "must provide a valid bitmap name for 'incremental' sync mode",
    );
    await expect(
      blockdevBackup(graph, jobs, { ...args, sync: 'none', bitmap: 'bm0', 'bitmap-mode': 'always' }),
    ).rejects.toThrow("sync mode 'none' does not produce meaningful bitmap outputs");
    await expect(
      blockdevBackup(graph, jobs, { ...args, sync: 'full', bitmap: 'bm0', 'bitmap-mode': 'never' }),
    ).rejects.toThrow(
      "Bitmap sync mode 'never' has no meaningful effect when combined with sync mode 'full'",
    );
    await expect(
      blockdevBackup(graph, jobs, { ...args, sync: 'full', 'bitmap-mode': 'always' }),
    ).rejects.toThrow('Cannot specify bitmap sync mode without a bitmap');
    await expect(
      blockdevBackup(graph, jobs, { ...args, sync: 'bitmap', bitmap: 'nope', 'bitmap-mode': 'always' }),
    ).rejects.toThrow("Bitmap 'nope' could not be found");
    expect(vda.node).toBe(src.node);
    expect(src.node.bitmaps.find((b) => b.name === 'bm0')!.busy).toBe(false);
    expect(src.node.quiesceCount).toBe(0);
    expect(jobs.jobs).toHaveLength(0);
  });
});
