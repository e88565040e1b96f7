import { describe, expect, it } from 'vitest';
import { addBitmap } from '../bitmap/bitmap-commands.js';
import { BlockGraph } from '../graph/graph.js';
import { addNullNode } from '../graph/open.js';
import { CLAIMS } from '../graph/permissions.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { BlockBackend, type WriteRequest } from './block-backend.js';

describe('BlockBackend', () => {
  it('reads and writes through the chain', async () => {
    const graph = new BlockGraph();
    const base = await addMemoryImage(graph, { nodeName: 'base', size: 65536 });
    await base.node.write(filled(65536, 3), 0);
    const top = await addMemoryImage(graph, { nodeName: 'top', size: 65536, backing: base.node });
    const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
    await vda.write(filled(10, 4), 5);
    const buf = new Uint8Array(20);
    await vda.read(buf, 0);
    expect([...buf]).toEqual([3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3]);
    await vda.flush();
    expect((await vda.blockStatus(0, 8192)).map((e) => e.status)).toEqual(['data', 'unallocated']);
  });

  it('checks bounds and refuses bad requests without changing anything', async () => {
    const graph = new BlockGraph();
    const img = await addMemoryImage(graph, { nodeName: 'img', size: 8192 });
    const vda = BlockBackend.attach(graph, img.node);
    await expect(vda.write(filled(2, 1), 8191)).rejects.toMatchObject({ reason: 'out-of-range' });
    await expect(vda.read(new Uint8Array(1), -1)).rejects.toMatchObject({ reason: 'invalid-argument' });
    await expect(vda.discard(0.5, 1)).rejects.toMatchObject({ reason: 'invalid-argument' });
    await expect(vda.writeZeroes(0, 8193)).rejects.toMatchObject({ reason: 'out-of-range' });
    expect((await readNode(img.node, 0, 8192)).every((b) => b === 0)).toBe(true);
    expect(img.node.requests.inFlight).toBe(0);
  });

  it('enforces read-only backends and nodes', async () => {
    const graph = new BlockGraph();
    const img = await addMemoryImage(graph, { nodeName: 'img', size: 8192 });
    const reader = BlockBackend.attach(graph, img.node, { claim: CLAIMS.reader });
    await expect(reader.write(filled(1, 1), 0)).rejects.toMatchObject({ reason: 'read-only' });
    await reader.read(new Uint8Array(4), 0);
    const ro = addNullNode(graph, { nodeName: 'ro', readOnly: true });
    await expect(ro.write(filled(1, 1), 0)).rejects.toThrow('Block node is read-only');
  });

  it('calls write notifiers before and after each modifying request', async () => {
    const graph = new BlockGraph();
    const img = await addMemoryImage(graph, { nodeName: 'img', size: 65536 });
    await img.node.write(filled(4096, 1), 0);
    const vda = BlockBackend.attach(graph, img.node);
    const seen: string[] = [];
    const remove = vda.addWriteNotifier({
      before: async (r: WriteRequest) => {
        // Before the write the old data is still there (what copy-before-write relies on).
        seen.push(
          `before ${r.kind} ${r.offset}+${r.length} old=${(await readNode(img.node, r.offset, 1))[0]}`,
        );
      },
      after: (r: WriteRequest) => seen.push(`after ${r.kind}`),
    });
    await vda.write(filled(512, 2), 0);
    await vda.writeZeroes(4096, 512);
    await vda.discard(8192, 4096);
    await vda.read(new Uint8Array(1), 0);
    remove();
    await vda.write(filled(512, 3), 0);
    expect(seen).toEqual([
      'before write 0+512 old=1',
      'after write',
      'before write-zeroes 4096+512 old=0',
      'after write-zeroes',
      'before discard 8192+4096 old=0',
      'after discard',
    ]);
  });

  it('records writes from every backend in the node bitmaps', async () => {
    const graph = new BlockGraph();
    const img = await addMemoryImage(graph, { nodeName: 'img', size: 1 << 20 });
    const { bitmap } = addBitmap(graph, { node: 'img', name: 'b', granularity: 65536 });
    const a = BlockBackend.attach(graph, img.node, { name: 'a' });
    const b = BlockBackend.attach(graph, img.node, { name: 'b' });
    await a.write(filled(1, 1), 70000);
    await b.writeZeroes(300000, 70000);
    await b.discard(900000, 10);
    expect(bitmap.store.count()).toBe(4 * 65536);
    expect(bitmap.store.nextDirty(0)).toEqual({ offset: 65536, length: 65536 });
    expect(bitmap.store.nextDirty(131072)).toEqual({ offset: 262144, length: 131072 });
  });

  it('detaches and releases its permissions', () => {
    const graph = new BlockGraph();
    const node = addNullNode(graph, { nodeName: 'n' });
    const vda = BlockBackend.attach(graph, node, { name: 'vda' });
    expect(() => BlockBackend.attach(graph, node, { claim: CLAIMS.exclusiveWriter })).toThrow(
      /Permission conflict/,
    );
    vda.detach();
    expect(vda.attached).toBe(false);
    BlockBackend.attach(graph, node, { claim: CLAIMS.exclusiveWriter });
  });
});
