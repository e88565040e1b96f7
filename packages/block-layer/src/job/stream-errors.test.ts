import { describe, expect, it } from 'vitest';
import { BlockGraph } from '../graph/graph.js';
import { EventLog } from '../test-support/event-log.js';
import { FailingFilter } from '../test-support/failing-filter.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import type { OnErrorPolicy } from './block-job.js';
import { blockStream } from './block-stream.js';
import { JobManager } from './job-manager.js';

const SIZE = 1 << 20;

/** top ← mid ← [failing filter] ← base: reads of base data fail while the filter says so. */
async function chain() {
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const log = new EventLog(jobs);
  const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE, clusterSize: 65536 });
  await base.node.write(filled(SIZE, 7), 0);
  const filter = new FailingFilter('flaky');
  graph.register(filter);
  graph.attachChild(filter, base.node, 'file');
  const mid = await addMemoryImage(graph, {
    nodeName: 'mid',
    size: SIZE,
    clusterSize: 65536,
    backing: filter,
  });
  await mid.node.write(filled(65536, 8), 0);
  const top = await addMemoryImage(graph, {
    nodeName: 'top',
    size: SIZE,
    clusterSize: 65536,
    backing: mid.node,
  });
  const model = new Uint8Array(SIZE).fill(7);
  model.fill(8, 0, 65536);
  return { graph, jobs, log, filter, top, mid, model };
}

async function streamWith(policy: OnErrorPolicy) {
  const env = await chain();
  env.filter.failures = 1;
  const job = await blockStream(env.graph, env.jobs, { 'job-id': 's', device: 'top', 'on-error': policy });
  return { ...env, job };
}

describe('stream job error policies', () => {
  it('report: the job fails with the error and the chain stays', async () => {
    const { job, log, top, mid, model } = await streamWith('report');
    await job.until((j) => j.status === 'null');
    expect(log.names('s')).toEqual([
      'created',
      'running',
      'BLOCK_JOB_ERROR',
      'aborting',
      'BLOCK_JOB_COMPLETED',
      'concluded',
      'null',
    ]);
    expect(log.of('s')[2]!.data).toEqual({ device: 's', operation: 'read', action: 'report' });
    expect(log.of('s')[4]!.data['error']).toBe('Input/output error');
    expect(top.node.backing).toBe(mid.node);
    expect(Buffer.from(await readNode(top.node, 0, SIZE)).equals(Buffer.from(model))).toBe(true);
  });

  it('stop: the job pauses with io-status failed; resume retries and it completes', async () => {
    const { job, jobs, log, top, filter, model } = await streamWith('stop');
    await job.until((j) => j.status === 'paused');
    expect(jobs.queryBlockJobs()[0]).toMatchObject({ 'io-status': 'failed', paused: true });
    jobs.get('s').userResume();
    await job.until((j) => j.status === 'null');
    expect(log.names('s')).toEqual([
      'created',
      'running',
      'BLOCK_JOB_ERROR',
      'paused',
      'running',
      'waiting',
      'pending',
      'BLOCK_JOB_COMPLETED',
      'concluded',
      'null',
    ]);
    expect(filter.failedReads).toBe(1);
    expect(top.node.backing).toBeNull();
    expect(Buffer.from(await readNode(top.node, 0, SIZE)).equals(Buffer.from(model))).toBe(true);
  });

  it('ignore: the job completes but keeps the backing link, since data may still be below', async () => {
    const { job, log, top, mid, model } = await streamWith('ignore');
    await job.until((j) => j.status === 'null');
    expect(log.names('s')).toContain('BLOCK_JOB_COMPLETED');
    expect(log.of('s').find((e) => e.event === 'BLOCK_JOB_ERROR')!.data['action']).toBe('ignore');
    expect(top.node.backing).toBe(mid.node);
    expect(Buffer.from(await readNode(top.node, 0, SIZE)).equals(Buffer.from(model))).toBe(true);
  });
});
