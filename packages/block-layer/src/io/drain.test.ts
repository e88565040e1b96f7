import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockGraph } from '../graph/graph.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { drain, drained, waitIdle } from './drain.js';

const SIZE = 256 * 1024;

describe('drain', () => {
  it('waits for requests in flight and holds new ones until the section ends', async () => {
    const graph = new BlockGraph();
    const img = await addMemoryImage(graph, { nodeName: 'img', size: SIZE });
    const vda = BlockBackend.attach(graph, img.node, { name: 'vda' });
    const inFlight = [0, 1, 2, 3].map((i) => vda.write(filled(8192, i + 1), i * 8192));
    expect(img.node.requests.inFlight).toBeGreaterThan(0);
    const section = await drain(graph, [img.node]);
    // Everything issued before the drain has completed.
    expect(img.node.requests.inFlight).toBe(0);
    expect(img.file.requests.inFlight).toBe(0);
    let lateDone = false;
    const late = vda.write(filled(512, 9), 0).then(() => {
      lateDone = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(lateDone).toBe(false);
    expect(img.node.requests.inFlight).toBe(0);
    section.end();
    await late;
    await Promise.all(inFlight);
    expect((await readNode(img.node, 0, 1))[0]).toBe(9);
  });

  it('quiesces users above the drained node and the whole subtree below it', async () => {
    const graph = new BlockGraph();
    const base = await addMemoryImage(graph, { nodeName: 'base', size: SIZE, readOnly: true });
    const top = await addMemoryImage(graph, { nodeName: 'top', size: SIZE, backing: base.node });
    const section = await drain(graph, [base.node]);
    expect(top.node.quiesceCount).toBe(1);
    expect(base.file.quiesceCount).toBe(1);
    expect(top.file.quiesceCount).toBe(0); // a sibling branch is untouched
    section.end();
    section.end(); // ending twice is harmless
    expect(top.node.quiesceCount + base.file.quiesceCount).toBe(0);
  });

  it('freeze holds every new request at the node until thawed', async () => {
    const graph = new BlockGraph();
    const img = await addMemoryImage(graph, { nodeName: 'img', size: SIZE });
    img.file.requests.freeze();
    let done = false;
    const write = img.node.write(filled(4096, 5), 0).then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(done).toBe(false);
    img.file.requests.thaw();
    await write;
    expect(done).toBe(true);
  });

  it('never lets a request reach the node inside a drained section (random interleavings)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            writer: fc.integer({ min: 0, max: 2 }),
            offset: fc.integer({ min: 0, max: SIZE / 512 - 16 }),
            sectors: fc.integer({ min: 1, max: 16 }),
            delay: fc.integer({ min: 0, max: 3 }),
          }),
          { minLength: 1, maxLength: 24 },
        ),
        fc.array(fc.integer({ min: 0, max: 23 }), { minLength: 1, maxLength: 3 }),
        async (writes, drainPoints) => {
          const graph = new BlockGraph();
          const img = await addMemoryImage(graph, { nodeName: 'img', size: SIZE });
          const writers = [0, 1, 2].map((i) => BlockBackend.attach(graph, img.node, { name: `w${i}` }));
          let inSection = false;
          let violations = 0;
          // Count requests that start on the node while a section is active.
          const original = img.node.requests.run.bind(img.node.requests);
          img.node.requests.run = <T>(request: () => Promise<T>) => {
            if (inSection) violations++;
            return original(request);
          };
          const model = new Uint8Array(SIZE);
          const issued: Promise<void>[] = [];
          for (let i = 0; i < writes.length; i++) {
            const w = writes[i]!;
            const value = (i % 250) + 1;
            model.fill(value, w.offset * 512, (w.offset + w.sectors) * 512);
            issued.push(
              (async () => {
                for (let d = 0; d < w.delay; d++) await Promise.resolve();
                await writers[w.writer]!.write(filled(w.sectors * 512, value), w.offset * 512);
              })(),
            );
            if (drainPoints.includes(i)) {
              // Writes issued so far may overlap; only check ordering for the drained part.
              const section = await drain(graph, [img.node]);
              inSection = true;
              expect(img.node.requests.inFlight).toBe(0);
              await new Promise((resolve) => setImmediate(resolve));
              inSection = false;
              section.end();
              await Promise.all(issued.splice(0));
            }
          }
          await Promise.all(issued);
          await waitIdle([img.node]);
          expect(violations).toBe(0);
          // Writes were issued in order per position; overlapping concurrent writes may land
          // in any order, so only check ranges written once.
          const counts = new Uint8Array(SIZE / 512);
          for (const w of writes) for (let s = w.offset; s < w.offset + w.sectors; s++) counts[s]!++;
          const data = await readNode(img.node, 0, SIZE);
          for (let s = 0; s < counts.length; s++) {
            if (counts[s] === 1) expect(data[s * 512]).toBe(model[s * 512]);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('drained() ends the section even when the body throws', async () => {
    const graph = new BlockGraph();
    const img = await addMemoryImage(graph, { nodeName: 'img', size: SIZE });
    await expect(
      drained(graph, [img.node], () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(img.node.quiesceCount).toBe(0);
  });
});
