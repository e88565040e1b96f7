import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockGraph } from '../graph/graph.js';
import { EventLog } from '../test-support/event-log.js';
import { firstDifference, GuestModel } from '../test-support/guest-model.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { eventShape, jobEvents, loadTranscript } from '../test-support/transcript.js';
import { blockCommit } from './block-commit.js';
import { JobManager } from './job-manager.js';

const SIZE = 2 << 20;
const CLUSTER = 65536;

/** base (1s) <- mid (2s in clusters 1-3) <- top (3s in cluster 2, 4) <- active overlay 'vda'. */
async function chain() {
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const log = new EventLog(jobs);
  const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE, clusterSize: CLUSTER });
  await base.node.write(filled(SIZE, 1), 0);
  await graph.reopen(base.node, true);
  const mid = await addMemoryImage(graph, {
    nodeName: 'mid',
    size: SIZE,
    clusterSize: CLUSTER,
    backing: base.node,
  });
  await mid.node.write(filled(3 * CLUSTER, 2), CLUSTER);
  await graph.reopen(mid.node, true);
  const top = await addMemoryImage(graph, {
    nodeName: 'top',
    size: SIZE,
    clusterSize: CLUSTER,
    backing: mid.node,
  });
  await top.node.write(filled(CLUSTER, 3), 2 * CLUSTER);
  await top.node.write(filled(5000, 4), 6 * CLUSTER + 10);
  const merged = new Uint8Array(SIZE).fill(1);
  merged.fill(2, CLUSTER, 4 * CLUSTER);
  merged.fill(3, 2 * CLUSTER, 3 * CLUSTER);
  merged.fill(4, 6 * CLUSTER + 10, 6 * CLUSTER + 5010);
  return { graph, jobs, log, base, mid, top, merged };
}

async function same(node: Parameters<typeof readNode>[0], model: Uint8Array): Promise<number> {
  return firstDifference(await readNode(node, 0, model.length), model);
}

describe('intermediate commit', () => {
  it('commits mid into base while the guest writes the active layer (QEMU c1, manual finalize)', async () => {
    const { graph, jobs, log, base, mid, top, merged } = await chain();
    await graph.reopen(top.node, true);
    const active = await addMemoryImage(graph, {
      nodeName: 'act',
      size: SIZE,
      clusterSize: CLUSTER,
      backing: top.node,
    });
    const vda = BlockBackend.attach(graph, active.node, { name: 'vda' });
    const guest = new GuestModel(vda, merged, 3);
    const job = await blockCommit(graph, jobs, {
      'job-id': 'c1',
      device: 'act',
      'top-node': 'mid',
      'base-node': 'base',
      'auto-finalize': false,
      'auto-dismiss': false,
    });
    expect(top.node.backing?.driver).toBe('commit_top');
    await guest.randomWrites(20);
    await job.until((j) => j.status === 'pending');
    await job.finalize();
    job.dismiss();
    expect(top.node.backing).toBe(base.node);
    expect(mid.node.parents).toHaveLength(0);
    expect(graph.nodes.some((n) => n.driver === 'commit_top')).toBe(false);
    expect(await same(active.node, guest.model)).toBe(-1);
    // base now holds base+mid.
    const expectBase = new Uint8Array(SIZE).fill(1);
    expectBase.fill(2, CLUSTER, 4 * CLUSTER);
    expect(await same(base.node, expectBase)).toBe(-1);
    expect(base.node.readOnly).toBe(true);
    void mid;
    expect(log.of('c1').map(eventShape)).toEqual(
      jobEvents(loadTranscript('commit-intermediate.txt'), 'c1').map(eventShape),
    );
  });

  it('cancel leaves the chain as it was', async () => {
    const { graph, jobs, mid, top } = await chain();
    await graph.reopen(top.node, true);
    await addMemoryImage(graph, { nodeName: 'act', size: SIZE, clusterSize: CLUSTER, backing: top.node });
    const job = await blockCommit(graph, jobs, { 'job-id': 'c', device: 'act', 'top-node': 'top', speed: 1 });
    await jobs.blockJobCancel('c');
    await job.until((j) => j.status === 'null');
    expect(top.node.backing).toBe(mid.node);
    expect(graph.nodes.some((n) => n.driver === 'commit_top')).toBe(false);
    expect(mid.node.child('backing')?.frozen).toBe(false);
  });
});

describe('active commit', () => {
  it('goes READY, complete pivots the guest onto base (QEMU c2)', async () => {
    const { graph, jobs, log, base, top, merged } = await chain();
    const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
    const guest = new GuestModel(vda, merged, 5);
    const job = await blockCommit(graph, jobs, { 'job-id': 'c2', device: 'top' });
    expect(job.type).toBe('commit');
    await guest.randomWrites(20);
    await job.until((j) => j.status === 'ready');
    await guest.randomWrites(20);
    job.complete();
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(base.node);
    // top and mid were added by the user: they survive, unused.
    expect(top.node.parents).toHaveLength(0);
    expect(base.node.readOnly).toBe(false);
    await guest.randomWrites(5);
    expect(await same(base.node, guest.model)).toBe(-1);
    expect(log.of('c2').map(eventShape)).toEqual(
      jobEvents(loadTranscript('commit-active.txt'), 'c2').map(eventShape),
    );
  });

  it('soft cancel while ready keeps top active; base holds the merged chain', async () => {
    const { graph, jobs, base, top, merged } = await chain();
    const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
    const guest = new GuestModel(vda, merged, 9);
    const job = await blockCommit(graph, jobs, { 'job-id': 'c', device: 'top', 'base-node': 'base' });
    await job.until((j) => j.status === 'ready');
    await guest.randomWrites(10);
    await jobs.blockJobCancel('c', false);
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(top.node);
    expect(base.node.readOnly).toBe(true);
    expect(await same(top.node, guest.model)).toBe(-1);
    expect(await same(base.node, guest.model)).toBe(-1);
  });

  it('force cancel while ready aborts and keeps top active', async () => {
    const { graph, jobs, log, mid, top, merged } = await chain();
    const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
    const guest = new GuestModel(vda, merged, 11);
    const job = await blockCommit(graph, jobs, { 'job-id': 'c', device: 'top' });
    await job.until((j) => j.status === 'ready');
    await guest.randomWrites(10);
    await jobs.blockJobCancel('c', true);
    await job.until((j) => j.status === 'null');
    expect(log.names('c')).toContain('BLOCK_JOB_CANCELLED');
    expect(vda.node).toBe(top.node);
    expect(top.node.backing).toBe(mid.node);
    expect(await same(top.node, guest.model)).toBe(-1);
  });

  it('refuses bad arguments with QEMU messages', async () => {
    const { graph, jobs } = await chain();
    await expect(blockCommit(graph, jobs, { device: 'nope' })).rejects.toMatchObject({
      message: "Device 'nope' not found",
      qmpClass: 'DeviceNotFound',
    });
    await expect(
      blockCommit(graph, jobs, { device: 'top', 'top-node': 'top', 'base-node': 'top' }),
    ).rejects.toThrow('cannot commit an image into itself');
    await expect(blockCommit(graph, jobs, { device: 'base' })).rejects.toThrow('There is no backimg image');
    await expect(blockCommit(graph, jobs, { device: 'top', 'backing-file': 'x' })).rejects.toThrow(
      "'backing-file' specified, but 'top' is the active layer",
    );
    await expect(blockCommit(graph, jobs, { device: 'top', 'top-node': 'mid', top: 'x' })).rejects.toThrow(
      "'top-node' and 'top' are mutually exclusive",
    );
    expect(jobs.jobs).toHaveLength(0);
  });
});
