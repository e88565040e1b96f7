import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockGraph } from '../graph/graph.js';
import { firstDifference } from '../test-support/guest-model.js';
import { addMemoryImage, readNode } from '../test-support/memory-graph.js';
import { blockCommit } from './block-commit.js';
import { blockdevBackup } from './blockdev-backup.js';
import { blockdevMirror } from './blockdev-mirror.js';
import { JobManager } from './job-manager.js';

const SIZE = 256 * 1024;
const CLUSTER = 4096;

/** One guest step: a write, a zero-write, or letting the job run a little. */
type Step =
  | { kind: 'write' | 'zeroes'; offset: number; length: number; value: number }
  | { kind: 'yield'; turns: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('write' as const, 'zeroes' as const),
    offset: fc.integer({ min: 0, max: SIZE - 1 }),
    length: fc.integer({ min: 1, max: 3 * CLUSTER }),
    value: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({ kind: fc.constant('yield' as const), turns: fc.integer({ min: 1, max: 20 }) }),
);

/** Runs the steps through the backend, applying each acknowledged write to the model. */
async function play(backend: BlockBackend, model: Uint8Array, steps: readonly Step[]): Promise<void> {
  for (const s of steps) {
    if (s.kind === 'yield') {
      for (let i = 0; i < s.turns; i++) await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    const length = Math.min(s.length, SIZE - s.offset);
    if (s.kind === 'write') {
      await backend.write(new Uint8Array(length).fill(s.value), s.offset);
      model.fill(s.value, s.offset, s.offset + length);
    } else {
      await backend.writeZeroes(s.offset, length);
      model.fill(0, s.offset, s.offset + length);
    }
  }
}

/** A two-layer chain with some data in each layer, a guest on top, and the flat model. */
async function chain(seedWrites: readonly Step[]) {
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE, clusterSize: CLUSTER });
  const model = new Uint8Array(SIZE);
  const direct = BlockBackend.attach(graph, base.node, { name: 'seed' });
  await play(direct, model, seedWrites.slice(0, seedWrites.length >> 1));
  direct.detach();
  await graph.reopen(base.node, true);
  const top = await addMemoryImage(graph, {
    nodeName: 'top',
    size: SIZE,
    clusterSize: CLUSTER,
    backing: base.node,
  });
  const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
  await play(vda, model, seedWrites.slice(seedWrites.length >> 1));
  return { graph, jobs, base, top, vda, model };
}

const steps = fc.array(step, { minLength: 1, maxLength: 25 });
const writesOnly = fc.array(
  step.filter((s) => s.kind !== 'yield'),
  { maxLength: 10 },
);

describe('live jobs under random interleavings of guest writes', () => {
  it('after mirror complete, the target equals what the guest wrote', async () => {
    await fc.assert(
      fc.asyncProperty(
        writesOnly,
        steps,
        steps,
        fc.constantFrom('background' as const, 'write-blocking' as const),
        async (seed, before, after, copyMode) => {
          const { graph, jobs, vda, model } = await chain(seed);
          const dst = await addMemoryImage(graph, { nodeName: 'dst', size: SIZE, clusterSize: CLUSTER });
          const job = await blockdevMirror(graph, jobs, {
            'job-id': 'm',
            device: 'top',
            target: 'dst',
            sync: 'full',
            granularity: CLUSTER,
            'buf-size': 4 * CLUSTER,
            'copy-mode': copyMode,
          });
          await play(vda, model, before);
          await job.until((j) => j.status === 'ready');
          const racing = play(vda, model, after);
          job.complete();
          await job.until((j) => j.status === 'null');
          await racing;
          expect(vda.node).toBe(dst.node);
          expect(firstDifference(await readNode(dst.node, 0, SIZE), model)).toBe(-1);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('after active commit complete, base equals the merged chain plus every guest write', async () => {
    await fc.assert(
      fc.asyncProperty(writesOnly, steps, steps, async (seed, before, after) => {
        const { graph, jobs, base, vda, model } = await chain(seed);
        const job = await blockCommit(graph, jobs, { 'job-id': 'c', device: 'top' });
        await play(vda, model, before);
        await job.until((j) => j.status === 'ready');
        const racing = play(vda, model, after);
        job.complete();
        await job.until((j) => j.status === 'null');
        await racing;
        expect(vda.node).toBe(base.node);
        expect(firstDifference(await readNode(base.node, 0, SIZE), model)).toBe(-1);
      }),
      { numRuns: 25 },
    );
  });

  it('after backup, the target equals the source at the moment the backup started', async () => {
    await fc.assert(
      fc.asyncProperty(
        writesOnly,
        steps,
        fc.constantFrom('full' as const, 'top' as const),
        async (seed, during, sync) => {
          const { graph, jobs, top, vda, model } = await chain(seed);
          const dst = await addMemoryImage(graph, { nodeName: 'dst', size: SIZE, clusterSize: CLUSTER });
          if (sync === 'top') graph.setBacking(dst.node, top.node.backing);
          const atStart = model.slice();
          const job = await blockdevBackup(graph, jobs, {
            'job-id': 'b',
            device: 'top',
            target: 'dst',
            sync,
          });
          await play(vda, model, during);
          await job.until((j) => j.status === 'null');
          expect(firstDifference(await readNode(dst.node, 0, SIZE), atStart)).toBe(-1);
          expect(firstDifference(await readNode(top.node, 0, SIZE), model)).toBe(-1);
        },
      ),
      { numRuns: 25 },
    );
  });
});
