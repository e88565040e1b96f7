import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockGraph } from '../graph/graph.js';
import { EventLog } from '../test-support/event-log.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { eventShape, jobEvents, loadTranscript } from '../test-support/transcript.js';
import { blockStream } from './block-stream.js';
import { JobManager } from './job-manager.js';

const SIZE = 2 << 20;

async function chain() {
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const log = new EventLog(jobs);
  const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE, clusterSize: 65536 });
  await base.node.write(filled(SIZE, 1), 0);
  await graph.reopen(base.node, true);
  const mid = await addMemoryImage(graph, {
    size: SIZE,
    clusterSize: 65536,
    backing: base.node,
    monitorOwned: false,
  });
  await mid.node.write(filled(65536 * 3, 2), 65536);
  await mid.node.write(filled(100, 2), SIZE - 100);
  await graph.reopen(mid.node, true);
  const top = await addMemoryImage(graph, {
    nodeName: 'top',
    size: SIZE,
    clusterSize: 65536,
    backing: mid.node,
  });
  await top.node.write(filled(65536, 3), 2 * 65536);
  const model = new Uint8Array(SIZE).fill(1);
  model.fill(2, 65536, 4 * 65536);
  model.fill(2, SIZE - 100);
  model.fill(3, 2 * 65536, 3 * 65536);
  return { graph, jobs, log, base, mid, top, model };
}

describe('stream job', () => {
  it('copies the intermediate layer into the top and drops it, with QEMU events', async () => {
    const { graph, jobs, log, base, mid, top, model } = await chain();
    const job = await blockStream(graph, jobs, { 'job-id': 's1', device: 'top', 'base-node': 'base' });
    await job.until((j) => j.status === 'null');
    expect(top.node.backing).toBe(base.node);
    expect(graph.find(mid.node.name)).toBeUndefined();
    expect(graph.nodes.some((n) => n.driver === 'copy-on-read')).toBe(false);
    expect(Buffer.from(await readNode(top.node, 0, SIZE)).equals(Buffer.from(model))).toBe(true);
    // The top layer now holds what the intermediate held; the base part is still read through.
    expect((await top.node.blockStatus(0, 65536))[0]!.status).toBe('unallocated');
    expect((await top.node.blockStatus(65536, 65536))[0]!.status).toBe('data');
    const recorded = jobEvents(loadTranscript('stream.txt'), 's1').map(eventShape);
    expect(log.of('s1').map(eventShape)).toEqual(recorded);
    expect(log.of('s1').find((e) => e.event === 'BLOCK_JOB_COMPLETED')!.data).toMatchObject({
      len: SIZE,
      offset: SIZE,
    });
    expect(top.node.readOnly).toBe(false);
    expect(base.node.blockers.size).toBe(1); // only the backing link from top
  });

  it('keeps concurrent guest writes (they win over copied backing data)', async () => {
    const { graph, jobs, top, model } = await chain();
    const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
    const job = await blockStream(graph, jobs, { 'job-id': 's', device: 'top' });
    expect(vda.node.driver).toBe('copy-on-read');
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 32; i++) {
      const offset = (i * 65536 + i * 777) % (SIZE - 3000);
      model.fill(100 + i, offset, offset + 3000);
      writes.push(vda.write(filled(3000, 100 + i), offset));
      // Writes in flight overlap each other only in order of issue: wait before the next one.
      await writes[writes.length - 1];
    }
    await job.until((j) => j.status === 'null');
    expect(vda.node).toBe(top.node);
    expect(top.node.backing).toBeNull();
    expect(Buffer.from(await readNode(top.node, 0, SIZE)).equals(Buffer.from(model))).toBe(true);
  });

  it('refuses bad arguments with QEMU messages and changes nothing', async () => {
    const { graph, jobs, top, mid } = await chain();
    await expect(blockStream(graph, jobs, { 'job-id': 's', device: 'zz' })).rejects.toThrow(
      "Cannot find device='zz' nor node-name='zz'",
    );
    await expect(
      blockStream(graph, jobs, { 'job-id': 's', device: 'top', 'base-node': 'top' }),
    ).rejects.toThrow("Node 'top' is not a backing image of 'top'");
    await expect(
      blockStream(graph, jobs, { 'job-id': 's', device: 'top', 'base-node': 'nope' }),
    ).rejects.toThrow("Cannot find device='' nor node-name='nope'");
    await expect(
      blockStream(graph, jobs, { 'job-id': 's', device: 'top', 'backing-file': 'x' }),
    ).rejects.toThrow('backing file specified, but streaming the entire chain');
    await expect(blockStream(graph, jobs, { device: 'top' })).rejects.toThrow("Invalid job ID ''");
    expect(top.node.backing).toBe(mid.node);
    expect(jobs.queryJobs()).toEqual([]);
  });

  it('cancels cleanly: the chain and the graph are as before, data unchanged', async () => {
    const { graph, jobs, log, top, mid, model } = await chain();
    const names = graph.nodes.map((n) => n.name);
    const job = await blockStream(graph, jobs, { 'job-id': 'c', device: 'top', speed: 1 });
    await jobs.blockJobCancel('c');
    await job.until((j) => j.status === 'null');
    expect(log.names('c')).toEqual([
      'created',
      'running',
      'aborting',
      'BLOCK_JOB_CANCELLED',
      'concluded',
      'null',
    ]);
    expect(top.node.backing).toBe(mid.node);
    expect(graph.nodes.map((n) => n.name)).toEqual(names);
    expect(top.node.child('backing')!.frozen).toBe(false);
    expect(Buffer.from(await readNode(top.node, 0, SIZE)).equals(Buffer.from(model))).toBe(true);
  });

  it('matches a flat model when random guest writes race with the job', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            offset: fc.integer({ min: 0, max: SIZE - 1 }),
            length: fc.integer({ min: 1, max: 200_000 }),
            value: fc.integer({ min: 10, max: 255 }),
            zero: fc.boolean(),
            pause: fc.integer({ min: 0, max: 3 }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.boolean(),
        async (writes, keepBase) => {
          const { graph, jobs, top, base, model } = await chain();
          const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
          const args = keepBase
            ? { 'job-id': 'r', device: 'top', 'base-node': 'base' }
            : { 'job-id': 'r', device: 'top' };
          const job = await blockStream(graph, jobs, args);
          for (const w of writes) {
            const length = Math.min(w.length, SIZE - w.offset);
            for (let i = 0; i < w.pause; i++) await new Promise((resolve) => setImmediate(resolve));
            if (w.zero) {
              model.fill(0, w.offset, w.offset + length);
              await vda.writeZeroes(w.offset, length);
            } else {
              model.fill(w.value, w.offset, w.offset + length);
              await vda.write(filled(length, w.value), w.offset);
            }
          }
          await job.until((j) => j.status === 'null');
          expect(top.node.backing).toBe(keepBase ? base.node : null);
          expect(Buffer.from(await readNode(top.node, 0, SIZE)).equals(Buffer.from(model))).toBe(true);
        },
      ),
      { numRuns: 15 },
    );
  });
});
