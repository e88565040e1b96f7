import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockGraph } from '../graph/graph.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';

const SIZE = 64 * 1024;
const CLUSTER = 4096;

describe('format node over an image driver', () => {
  it('reads unallocated ranges from the backing node, allocated ones from its own layer', async () => {
    const graph = new BlockGraph();
    const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE });
    await base.node.write(filled(SIZE, 0xbb), 0);
    const top = await addMemoryImage(graph, { nodeName: 'top', size: SIZE, backing: base.node });
    await top.node.write(filled(100, 0x11), CLUSTER + 10);
    const data = await readNode(top.node, 0, 3 * CLUSTER);
    expect(data.subarray(0, CLUSTER).every((b) => b === 0xbb)).toBe(true);
    // The partly written cluster keeps the backing data around the write (copy-on-write).
    expect(data.subarray(CLUSTER, CLUSTER + 10).every((b) => b === 0xbb)).toBe(true);
    expect(data.subarray(CLUSTER + 10, CLUSTER + 110).every((b) => b === 0x11)).toBe(true);
    expect(data.subarray(CLUSTER + 110, 2 * CLUSTER).every((b) => b === 0xbb)).toBe(true);
    expect((await top.node.blockStatus(0, 3 * CLUSTER)).map((e) => e.status)).toEqual([
      'unallocated',
      'data',
      'unallocated',
    ]);
  });

  it('makes zeroed and discarded ranges read as zeroes even over a backing node', async () => {
    const graph = new BlockGraph();
    const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE });
    await base.node.write(filled(SIZE, 0xbb), 0);
    const top = await addMemoryImage(graph, { nodeName: 'top', size: SIZE, backing: base.node });
    await top.node.writeZeroes(100, 3 * CLUSTER, { mayUnmap: true });
    await top.node.discard(5 * CLUSTER, 2 * CLUSTER);
    const data = await readNode(top.node, 0, SIZE);
    expect(data.subarray(0, 100).every((b) => b === 0xbb)).toBe(true);
    expect(data.subarray(100, 100 + 3 * CLUSTER).every((b) => b === 0)).toBe(true);
    expect(data.subarray(100 + 3 * CLUSTER, 5 * CLUSTER).every((b) => b === 0xbb)).toBe(true);
    expect(data.subarray(5 * CLUSTER, 7 * CLUSTER).every((b) => b === 0)).toBe(true);
  });

  it('matches a flat model under random concurrent writes, zeroes and discards over a backing node', async () => {
    const op = fc.record({
      kind: fc.constantFrom('write', 'zero', 'discard'),
      offset: fc.integer({ min: 0, max: SIZE - 1 }),
      length: fc.integer({ min: 1, max: 3 * CLUSTER }),
      value: fc.integer({ min: 1, max: 255 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
        async (batches) => {
          const graph = new BlockGraph();
          const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE });
          const pattern = Uint8Array.from({ length: SIZE }, (_, i) => (i * 7 + 3) & 0xff);
          await base.node.write(pattern, 0);
          const top = await addMemoryImage(graph, { nodeName: 'top', size: SIZE, backing: base.node });
          const model = Uint8Array.from(pattern);
          for (const batch of batches) {
            // Requests in one batch run concurrently on disjoint ranges (overlapping concurrent
            // writes have no defined result); batches run one after the other.
            const taken: Array<[number, number]> = [];
            const runs: Promise<void>[] = [];
            for (const o of batch) {
              const length = Math.min(o.length, SIZE - o.offset);
              if (taken.some(([s, e]) => o.offset < e && s < o.offset + length)) continue;
              taken.push([o.offset, o.offset + length]);
              if (o.kind === 'write') {
                model.fill(o.value, o.offset, o.offset + length);
                runs.push(top.node.write(filled(length, o.value), o.offset));
              } else if (o.kind === 'zero') {
                model.fill(0, o.offset, o.offset + length);
                runs.push(top.node.writeZeroes(o.offset, length));
              } else {
                // Only whole clusters are dropped; they then read as zeroes.
                const start = Math.ceil(o.offset / CLUSTER) * CLUSTER;
                const end = Math.floor((o.offset + length) / CLUSTER) * CLUSTER;
                if (end > start) model.fill(0, start, end);
                runs.push(top.node.discard(o.offset, length));
              }
            }
            await Promise.all(runs);
          }
          expect(Buffer.from(await readNode(top.node, 0, SIZE)).equals(Buffer.from(model))).toBe(true);
          // The backing node never changes.
          expect(Buffer.from(await readNode(base.node, 0, SIZE)).equals(Buffer.from(pattern))).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});
