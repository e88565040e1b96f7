import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockGraph } from '../graph/graph.js';
import { EventLog } from '../test-support/event-log.js';
import { firstDifference, GuestModel } from '../test-support/guest-model.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { eventShape, jobEvents, loadTranscript } from '../test-support/transcript.js';
import { blockdevMirror } from './blockdev-mirror.js';
import { JobManager } from './job-manager.js';

const SIZE = 4 << 20;
const CLUSTER = 65536;

async function setup(options: { targetBacking?: boolean } = {}) {
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const log = new EventLog(jobs);
  const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE, clusterSize: CLUSTER });
  await base.node.write(filled(SIZE / 2, 7), 0);
  await graph.reopen(base.node, true);
  const src = await addMemoryImage(graph, {
    nodeName: 'src',
    size: SIZE,
    clusterSize: CLUSTER,
    backing: base.node,
  });
  await src.node.write(filled(3 * CLUSTER + 100, 9), CLUSTER);
  const initial = new Uint8Array(SIZE);
  initial.fill(7, 0, SIZE / 2);
  initial.fill(9, CLUSTER, 4 * CLUSTER + 100);
  const dst = await addMemoryImage(graph, {
    nodeName: 'dst',
    size: SIZE,
    clusterSize: CLUSTER,
    backing: options.targetBacking ? base.node : null,
  });
  const vda = BlockBackend.attach(graph, src.node, { name: 'vda' });
  const guest = new GuestModel(vda, initial, 42);
  return { graph, jobs, log, base, src, dst, vda, guest };
}

async function expectContent(node: Parameters<typeof readNode>[0], model: Uint8Array) {
  expect(firstDifference(await readNode(node, 0, model.length), model)).toBe(-1);
}

function recorded(file: string, id: string): string[] {
  return jobEvents(loadTranscript(file), id).map(eventShape);
}

describe('mirror job', () => {
  for (const copyMode of ['background', 'write-blocking'] as const) {
    it(`sync=full, ${copyMode}: guest writes before and after READY, complete pivots to the target`, async () => {
      const { graph, jobs, log, src, dst, vda, guest } = await setup();
      const job = await blockdevMirror(graph, jobs, {
        'job-id': 'm',
        device: 'src',
        target: 'dst',
        sync: 'full',
        'copy-mode': copyMode,
        'buf-size': 4 * CLUSTER,
      });
      expect(vda.node.driver).toBe('mirror_top');
      await guest.randomWrites(30);
      await job.until((j) => j.status === 'ready');
      await guest.randomWrites(30);
      job.complete();
      const writesDuringPivot = guest.randomWrites(10);
      await job.until((j) => j.status === 'null');
      await writesDuringPivot;
      expect(vda.node).toBe(dst.node);
      expect(graph.nodes.some((n) => n.driver === 'mirror_top')).toBe(false);
      expect(src.node.bitmaps).toHaveLength(0);
      await guest.randomWrites(5);
      await expectContent(dst.node, guest.model);
      const names = log.names('m');
      expect(names).toEqual([
        'created',
        'running',
        'ready',
        'BLOCK_JOB_READY',
        'waiting',
        'pending',
        'BLOCK_JOB_COMPLETED',
        'concluded',
        'null',
      ]);
      const ready = log.of('m').find((e) => e.event === 'BLOCK_JOB_READY')!.data;
      expect(ready['len']).toBe(ready['offset']);
    });
  }

  it('sync=top copies only the top layer onto a target sharing the backing', async () => {
    const { graph, jobs, src, dst, guest } = await setup({ targetBacking: true });
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'm',
      device: 'src',
      target: 'dst',
      sync: 'top',
    });
    await job.until((j) => j.status === 'ready');
    // Only the top layer's clusters were allocated in the target.
    expect((await dst.node.blockStatus(0, CLUSTER))[0]!.status).toBe('unallocated');
    expect((await dst.node.blockStatus(CLUSTER, CLUSTER))[0]!.status).toBe('data');
    await guest.randomWrites(20);
    job.complete();
    await job.until((j) => j.status === 'null');
    await expectContent(dst.node, guest.model);
    expect(src.node.parents).toHaveLength(0);
  });

  it('sync=none copies only writes made after the start', async () => {
    const { graph, jobs, dst, guest } = await setup();
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'm',
      device: 'src',
      target: 'dst',
      sync: 'none',
    });
    await guest.write(5 * CLUSTER, 1000, 0x55);
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'null');
    const copied = await readNode(dst.node, 5 * CLUSTER, 1000);
    expect(copied.every((b) => b === 0x55)).toBe(true);
    // Old data was not copied.
    expect((await readNode(dst.node, CLUSTER, 10)).every((b) => b === 0)).toBe(true);
  });

  it('soft cancel while ready finishes without pivot; the target is a consistent copy (QEMU m2)', async () => {
    const { graph, jobs, log, dst, vda, src, guest } = await setup();
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'm2',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await guest.randomWrites(10);
    await job.until((j) => j.status === 'ready');
    await guest.randomWrites(10);
    await jobs.blockJobCancel('m2', false);
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(src.node);
    await expectContent(dst.node, guest.model);
    await expectContent(src.node, guest.model);
    expect(log.of('m2').map(eventShape)).toEqual(recorded('mirror-cancel-after-ready.txt', 'm2'));
  });

  it('forced cancel while ready aborts (QEMU m3); pause while ready goes standby (QEMU m4)', async () => {
    const { graph, jobs, log, vda, src, guest } = await setup();
    const m3 = await blockdevMirror(graph, jobs, {
      'job-id': 'm3',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await m3.until((j) => j.status === 'ready');
    await guest.randomWrites(5);
    await jobs.blockJobCancel('m3', true);
    await m3.until((j) => j.status === 'null');
    expect(vda.node).toBe(src.node);
    expect(log.of('m3').map(eventShape)).toEqual(recorded('mirror-cancel-after-ready.txt', 'm3'));
    const m4 = await blockdevMirror(graph, jobs, {
      'job-id': 'm4',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await m4.until((j) => j.status === 'ready');
    m4.userPause();
    await m4.until((j) => j.status === 'standby');
    await guest.randomWrites(5);
    m4.userResume();
    await m4.until((j) => j.status === 'ready');
    await jobs.blockJobCancel('m4', false);
    await m4.until((j) => j.status === 'null');
    expect(log.of('m4').map(eventShape)).toEqual(recorded('mirror-cancel-after-ready.txt', 'm4'));
    await expectContent(src.node, guest.model);
  });

  it('any cancel before READY aborts and leaves the graph as it was (QEMU "slow")', async () => {
    const { graph, jobs, log, vda, src, guest } = await setup();
    const before = graph.nodes.map((n) => n.name).sort();
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'slow',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1 << 20,
      granularity: CLUSTER,
    });
    await guest.randomWrites(5);
    expect(job.status).toBe('running');
    await jobs.blockJobCancel('slow', false);
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(src.node);
    expect(graph.nodes.map((n) => n.name).sort()).toEqual(before);
    expect(log.of('slow').map(eventShape)).toEqual(recorded('mirror-cancel-before-ready.txt', 'slow'));
    await expectContent(src.node, guest.model);
  });

  it('manual finalize and dismiss (QEMU m1): guest writes wait for the pivot and land on the target', async () => {
    const { graph, jobs, log, dst, vda, guest } = await setup();
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      'auto-finalize': false,
      'auto-dismiss': false,
    });
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'pending');
    const late = guest.write(0, 4096, 0x77);
    await job.finalize();
    expect(job.status).toBe('concluded');
    job.dismiss();
    await late;
    expect(vda.node).toBe(dst.node);
    await expectContent(dst.node, guest.model);
    expect(log.of('m1').map(eventShape)).toEqual(recorded('mirror-manual-finalize.txt', 'm1'));
  });

  it('refuses bad arguments with QEMU messages and changes nothing', async () => {
    const { graph, jobs } = await setup();
    const args = { 'job-id': 'x', device: 'src', target: 'dst' } as const;
    await expect(blockdevMirror(graph, jobs, { ...args, sync: 'bitmap' })).rejects.toThrow(
      "Sync mode 'bitmap' not supported",
    );
    await expect(blockdevMirror(graph, jobs, { ...args, sync: 'full', granularity: 256 })).rejects.toThrow(
      "Parameter 'granularity' expects a value in range [512B, 64MB]",
    );
    await expect(blockdevMirror(graph, jobs, { ...args, sync: 'full', granularity: 3000 })).rejects.toThrow(
      "Parameter 'granularity' expects a power of 2",
    );
    await expect(blockdevMirror(graph, jobs, { ...args, device: 'base', sync: 'full' })).rejects.toThrow(
      'Need a root block node',
    );
    expect(jobs.jobs).toHaveLength(0);
    const job = await blockdevMirror(graph, jobs, { ...args, sync: 'full' });
    await expect(blockdevMirror(graph, jobs, { ...args, 'job-id': 'y', sync: 'full' })).rejects.toThrow(
      'Need a root block node',
    );
    await job.userCancel(true);
    await job.until((j) => j.status === 'null');
  });

  it('a target of another size fails the job with QEMU message', async () => {
    const { graph, jobs, log } = await setup();
    await addMemoryImage(graph, { nodeName: 'small', size: SIZE / 2, clusterSize: CLUSTER });
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'e',
      device: 'src',
      target: 'small',
      sync: 'full',
    });
    await job.until((j) => j.status === 'null');
    const completed = log.of('e').find((e) => e.event === 'BLOCK_JOB_COMPLETED')!;
    expect(completed.data['error']).toBe('Source and target image have different sizes');
  });
});

describe('after a pivot', () => {
  it('the old source can be deleted (no blocker is left behind on it)', async () => {
    const { graph, jobs, src, dst, vda } = await setup();
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'm',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(dst.node);
    expect(src.node.blockers.size).toBe(0);
    await graph.delete('src');
    expect(graph.find('src')).toBeUndefined();
  });
});

describe('job ids', () => {
  it('a node without a backend needs an explicit job id, as in QEMU', async () => {
    const { graph, jobs } = await setup();
    await addMemoryImage(graph, { nodeName: 'lone', size: SIZE, clusterSize: CLUSTER });
    await expect(
      blockdevMirror(graph, jobs, { device: 'lone', target: 'dst', sync: 'full' }),
    ).rejects.toThrow("Invalid job ID ''");
    expect(graph.nodes.some((n) => n.driver === 'mirror_top')).toBe(false);
  });
});

describe('default job id', () => {
  it("is the device name of the source's backend", async () => {
    const { graph, jobs } = await setup();
    const job = await blockdevMirror(graph, jobs, { device: 'src', target: 'dst', sync: 'full' });
    expect(job.id).toBe('vda');
    await job.userCancel(true);
    await job.until((j) => j.status === 'null');
  });
});

describe('a target holding old data', () => {
  it('sync=full overwrites it everywhere, zero areas included', async () => {
    const { graph, jobs, dst, guest } = await setup();
    await dst.node.write(filled(SIZE, 0xee), 0);
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'm',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await guest.randomWrites(10);
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'null');
    expect(firstDifference(await readNode(dst.node, 0, SIZE), guest.model)).toBe(-1);
  });
});
