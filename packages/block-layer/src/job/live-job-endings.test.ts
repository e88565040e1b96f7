import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { PassThroughFilter } from '../drivers/filter-node.js';
import { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { addNullNode } from '../graph/open.js';
import { EventLog } from '../test-support/event-log.js';
import { FailingFilter } from '../test-support/failing-filter.js';
import { firstDifference, GuestModel } from '../test-support/guest-model.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { eventShape, jobEvents, loadTranscript } from '../test-support/transcript.js';
import { blockCommit } from './block-commit.js';
import { blockdevBackup } from './blockdev-backup.js';
import { blockdevMirror } from './blockdev-mirror.js';
import { JobManager } from './job-manager.js';

const SIZE = 1 << 20;
const CLUSTER = 65536;

/** A filter whose next `failing` writes fail with EIO (blkdebug's inject-error on pwritev). */
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
  const src = await addMemoryImage(graph, { nodeName: 'src', size: SIZE, clusterSize: CLUSTER });
  await src.node.write(filled(SIZE / 2, 3), CLUSTER);
  const initial = new Uint8Array(SIZE);
  initial.fill(3, CLUSTER, CLUSTER + SIZE / 2);
  return { graph, jobs, log, src, initial };
}

function filterOver(graph: BlockGraph, filter: PassThroughFilter, node: BlockNode): PassThroughFilter {
  graph.register(filter);
  graph.attachChild(filter, node, 'file');
  return filter;
}

async function same(node: BlockNode, model: Uint8Array): Promise<number> {
  return firstDifference(await readNode(node, 0, model.length), model);
}

describe('mirror error policies', () => {
  it('on-target-error=stop pauses with io-status failed; resume retries; events as QEMU (me)', async () => {
    const { graph, jobs, log } = await setup();
    const bad = filterOver(
      graph,
      new FailingWrites('bad'),
      addNullNode(graph, { size: SIZE, nodeName: 'n' }),
    );
    (bad as FailingWrites).failing = 1;
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'me',
      device: 'src',
      target: 'bad',
      sync: 'full',
      'on-target-error': 'stop',
    });
    await job.until((j) => j.status === 'paused');
    expect(job.blockInfo()).toMatchObject({ 'io-status': 'failed', paused: true, ready: false });
    job.userResume();
    await job.until((j) => j.status === 'ready');
    expect(job.blockInfo()['io-status']).toBe('ok');
    await jobs.jobCancel('me');
    await job.until((j) => j.status === 'null');
    expect(log.of('me').map(eventShape)).toEqual(
      jobEvents(loadTranscript('job-error-stop-and-create.txt'), 'me').map(eventShape),
    );
  });

  for (const policy of ['report', 'stop', 'ignore'] as const) {
    it(`on-source-error=${policy} with guest writes: the source stays intact${policy === 'report' ? ', the job fails' : ', the copy completes'}`, async () => {
      const { graph, jobs, log, src, initial } = await setup();
      const flaky = filterOver(graph, new FailingFilter('flaky'), src.node) as FailingFilter;
      const dst = await addMemoryImage(graph, { nodeName: 'dst', size: SIZE, clusterSize: CLUSTER });
      const vda = BlockBackend.attach(graph, flaky, { name: 'vda' });
      const guest = new GuestModel(vda, initial, 31);
      flaky.failures = 1;
      const job = await blockdevMirror(graph, jobs, {
        'job-id': 'e',
        device: 'flaky',
        target: 'dst',
        sync: 'full',
        'on-source-error': policy,
      });
      await guest.randomWrites(10);
      if (policy === 'stop') {
        await job.until((j) => j.status === 'paused');
        await guest.randomWrites(5);
        job.userResume();
      }
      if (policy !== 'report') {
        await job.until((j) => j.status === 'ready');
        await guest.randomWrites(5);
        job.complete();
      }
      await job.until((j) => j.status === 'null');
      const error = log.of('e').find((e) => e.event === 'BLOCK_JOB_ERROR')!;
      expect(error.data).toMatchObject({ operation: 'read', action: policy });
      const completed = log.of('e').find((e) => e.event === 'BLOCK_JOB_COMPLETED')!;
      if (policy === 'report') {
        expect(completed.data['error']).toBe('Input/output error');
        expect(vda.node).toBe(flaky);
        expect(await same(flaky, guest.model)).toBe(-1);
      } else {
        expect(completed.data['error']).toBeUndefined();
        expect(vda.node).toBe(dst.node);
        expect(await same(dst.node, guest.model)).toBe(-1);
      }
    });
  }

  it('a rate-limited mirror becomes ready once the limit is lifted (QEMU ms)', async () => {
    const { graph, jobs, log } = await setup();
    addNullNode(graph, { size: SIZE, nodeName: 'nul' });
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'ms',
      device: 'src',
      target: 'nul',
      sync: 'full',
      speed: 65536,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(job.status).toBe('running');
    job.setSpeed(0);
    await job.until((j) => j.status === 'ready');
    await jobs.blockJobCancel('ms', true);
    await job.until((j) => j.status === 'null');
    expect(log.of('ms').map(eventShape)).toEqual(
      jobEvents(loadTranscript('job-error-stop-and-create.txt'), 'ms').map(eventShape),
    );
  });

  it('replaces: complete swaps the named node for the target', async () => {
    const { graph, jobs, src, initial } = await setup();
    const quiet = filterOver(graph, new PassThroughFilter('blkdebug', 'quiet'), src.node);
    const vda = BlockBackend.attach(graph, quiet, { name: 'vda' });
    const guest = new GuestModel(vda, initial, 5);
    const dst = await addMemoryImage(graph, { nodeName: 'dst', size: SIZE, clusterSize: CLUSTER });
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'r',
      device: 'quiet',
      target: 'dst',
      sync: 'full',
      replaces: 'quiet',
    });
    await guest.randomWrites(10);
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(dst.node);
    expect(await same(dst.node, guest.model)).toBe(-1);
  });
});

describe('pause and resume with guest writes', () => {
  it('mirror paused before ready keeps recording writes and converges after resume', async () => {
    const { graph, jobs, log, initial } = await setup();
    const dst = await addMemoryImage(graph, { nodeName: 'dst', size: SIZE, clusterSize: CLUSTER });
    const vda = BlockBackend.attach(graph, graph.require('src'), { name: 'vda' });
    const guest = new GuestModel(vda, initial, 77);
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'p',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    });
    job.userPause();
    await job.until((j) => j.status === 'paused');
    await guest.randomWrites(20);
    job.setSpeed(0);
    job.userResume();
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'null');
    expect(log.names('p').slice(0, 4)).toEqual(['created', 'running', 'paused', 'running']);
    expect(await same(dst.node, guest.model)).toBe(-1);
  });

  it('backup paused mid-way still serves copy-before-write; manual finalize and dismiss', async () => {
    const { graph, jobs, log, src, initial } = await setup();
    const dst = await addMemoryImage(graph, { nodeName: 'dst', size: SIZE, clusterSize: CLUSTER });
    const vda = BlockBackend.attach(graph, src.node, { name: 'vda' });
    const guest = new GuestModel(vda, initial, 78);
    const job = await blockdevBackup(graph, jobs, {
      'job-id': 'bp',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
      'auto-finalize': false,
      'auto-dismiss': false,
    });
    job.userPause();
    await job.until((j) => j.status === 'paused');
    await guest.randomWrites(20);
    job.setSpeed(0);
    job.userResume();
    await job.until((j) => j.status === 'pending');
    expect(log.names('bp')).toContain('BLOCK_JOB_PENDING');
    await job.finalize();
    expect(job.status).toBe('concluded');
    job.dismiss();
    expect(await same(dst.node, initial)).toBe(-1);
    expect(await same(src.node, guest.model)).toBe(-1);
  });

  it('active commit paused while ready (standby) and resumed, then completed', async () => {
    const { graph, jobs, log, src, initial } = await setup();
    await graph.reopen(src.node, true);
    const top = await addMemoryImage(graph, {
      nodeName: 'top',
      size: SIZE,
      clusterSize: CLUSTER,
      backing: src.node,
    });
    const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
    const guest = new GuestModel(vda, initial, 79);
    await guest.randomWrites(10);
    const job = await blockCommit(graph, jobs, { 'job-id': 'cp', device: 'top' });
    await job.until((j) => j.status === 'ready');
    job.userPause();
    await job.until((j) => j.status === 'standby');
    await guest.randomWrites(10);
    job.userResume();
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'null');
    expect(log.names('cp')).toContain('standby');
    expect(vda.node).toBe(src.node);
    expect(await same(src.node, guest.model)).toBe(-1);
  });

  it('intermediate commit with a read error and on-error=stop pauses, then finishes after resume', async () => {
    const { graph, jobs, log, src } = await setup();
    await graph.reopen(src.node, true);
    const mid = await addMemoryImage(graph, {
      nodeName: 'mid',
      size: SIZE,
      clusterSize: CLUSTER,
      backing: src.node,
    });
    await mid.node.write(filled(CLUSTER, 9), 0);
    await graph.reopen(mid.node, true);
    const top = await addMemoryImage(graph, {
      nodeName: 'top',
      size: SIZE,
      clusterSize: CLUSTER,
      backing: mid.node,
    });
    const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
    const flaky = new FailingFilter('flaky');
    // Reads of mid's image file fail once: the job's first read of the chain fails.
    const file = mid.node.file!;
    graph.register(flaky);
    graph.replaceNode(file, flaky);
    graph.attachChild(flaky, file, 'file');
    flaky.failures = 1;
    const job = await blockCommit(graph, jobs, {
      'job-id': 'ce',
      device: 'top',
      'top-node': 'mid',
      'on-error': 'stop',
    });
    await job.until((j) => j.status === 'paused');
    expect(job.blockInfo()['io-status']).toBe('failed');
    job.userResume();
    await job.until((j) => j.status === 'null');
    expect(flaky.failedReads).toBe(1);
    expect(log.of('ce').find((e) => e.event === 'BLOCK_JOB_COMPLETED')!.data['error']).toBeUndefined();
    expect(top.node.backing).toBe(src.node);
    expect((await readNode(vda.node, 0, 4)).every((b) => b === 9)).toBe(true);
  });
});
