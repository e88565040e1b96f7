import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockGraph } from '../graph/graph.js';
import { addNullNode } from '../graph/open.js';
import { addMemoryImage } from '../test-support/memory-graph.js';
import {
  addBitmap,
  clearBitmap,
  lookupBitmap,
  mergeBitmaps,
  removeBitmap,
  setBitmapEnabled,
} from './bitmap-commands.js';
import { ArrayBitmapStore, type DirtyBitmapStore } from './bitmap-store.js';
import { ImageFormatBitmapStore } from './image-format-store.js';
import { BdrvDirtyBitmap } from './dirty-bitmap.js';

const STORES: Array<[string, (granularity: number, size: number) => DirtyBitmapStore]> = [
  ['ArrayBitmapStore', (g, size) => new ArrayBitmapStore(g, size)],
  ['ImageFormatBitmapStore', (g, size) => ImageFormatBitmapStore.create(g, size)],
];

describe.each(STORES)('%s', (_name, makeStore) => {
  it('matches a per-granule model under random set/reset', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            set: fc.boolean(),
            offset: fc.oneof(fc.nat(100_000), fc.constantFrom(0, 99_839, 99_840, 99_999, 100_000)),
            length: fc.nat(20_000),
          }),
          {
            maxLength: 40,
          },
        ),
        (ops) => {
          const g = 512;
          const size = 100_000;
          const store = makeStore(g, size);
          const model = new Array<boolean>(Math.ceil(size / g)).fill(false);
          for (const op of ops) {
            if (op.set) store.set(op.offset, op.length);
            else store.reset(op.offset, op.length);
            const end = Math.min(op.offset + op.length, size);
            if (end <= op.offset) continue;
            const first = Math.floor(op.offset / g);
            const last = Math.floor((end - 1) / g);
            for (let i = first; i <= last; i++) model[i] = op.set;
          }
          expect(store.count()).toBe(model.filter(Boolean).length * g);
          const runs: Array<[number, number]> = [];
          for (let at = 0, run = store.nextDirty(0); run; run = store.nextDirty(at)) {
            runs.push([run.offset, run.length]);
            at = run.offset + run.length;
          }
          const expected: Array<[number, number]> = [];
          for (let i = 0; i < model.length; i++) {
            if (!model[i] || (i > 0 && model[i - 1])) continue;
            let j = i;
            while (j < model.length && model[j]) j++;
            expected.push([i * g, Math.min(j * g, size) - i * g]);
          }
          expect(runs).toEqual(expected);
        },
      ),
    );
  });

  it('merges across granularities and clones independently', () => {
    const fine = makeStore(512, 1 << 20);
    fine.set(1000, 10);
    const coarse = makeStore(65536, 1 << 20);
    coarse.mergeFrom(fine);
    expect(coarse.nextDirty(0)).toEqual({ offset: 0, length: 65536 });
    const copy = coarse.clone();
    coarse.clear();
    expect(copy.count()).toBe(65536);
    expect(coarse.count()).toBe(0);
  });
});

describe('BdrvDirtyBitmap successors', () => {
  it('abdicate keeps only new writes; reclaim merges them back', () => {
    for (const end of ['abdicate', 'reclaim'] as const) {
      const bitmap = BdrvDirtyBitmap.create('b', 512, 8192);
      bitmap.markWrite(0, 512);
      bitmap.createSuccessor();
      expect(bitmap.busy).toBe(true);
      expect(bitmap.recording).toBe(true);
      expect(() => bitmap.createSuccessor()).toThrow(
        'Cannot create a successor for a bitmap currently in-use',
      );
      bitmap.markWrite(4096, 512);
      expect(bitmap.store.count()).toBe(512); // frozen
      bitmap[end]();
      expect(bitmap.busy).toBe(false);
      expect(bitmap.store.isDirty(4096)).toBe(true);
      expect(bitmap.store.isDirty(0)).toBe(end === 'reclaim');
    }
  });
});

describe('block-dirty-bitmap commands', () => {
  it('add with QEMU checks and messages', async () => {
    const graph = new BlockGraph();
    await addMemoryImage(graph, { nodeName: 'a', size: 16 << 20, clusterSize: 65536 });
    addNullNode(graph, { nodeName: 'n', size: 1 << 20 });
    expect(() => addBitmap(graph, { node: 'zz', name: 'b' })).toThrow(
      "Cannot find device='zz' nor node-name='zz'",
    );
    expect(() => addBitmap(graph, { node: 'a', name: '' })).toThrow('Bitmap name cannot be empty');
    expect(() => addBitmap(graph, { node: 'a', name: 'b', granularity: 1000 })).toThrow(
      'Granularity must be power of 2 and at least 512',
    );
    expect(() => addBitmap(graph, { node: 'a', name: 'b', granularity: 256 })).toThrow(
      'Granularity must be power of 2 and at least 512',
    );
    expect(() => addBitmap(graph, { node: 'a', name: 'c', granularity: 2 ** 32 })).toThrow(
      "Parameter 'granularity' expects uint32_t",
    );
    expect(() => addBitmap(graph, { node: 'n', name: 'p', persistent: true })).toThrow(
      "Can't store persistent bitmaps to n: Operation not supported",
    );
    const { bitmap } = addBitmap(graph, { node: 'a', name: 'b' });
    expect(bitmap.granularity).toBe(65536);
    expect(() => addBitmap(graph, { node: 'a', name: 'b' })).toThrow('Bitmap already exists: b');
    addBitmap(graph, { node: 'a', name: 'c', disabled: true });
    expect(graph.require('a').bitmaps.map((b) => b.info())).toEqual([
      { name: 'c', recording: false, persistent: false, busy: false, granularity: 65536, count: 0 },
      { name: 'b', recording: true, persistent: false, busy: false, granularity: 65536, count: 0 },
    ]);
  });

  it('lookups, busy, read-only and inconsistent bitmaps are refused with QEMU messages', async () => {
    const graph = new BlockGraph();
    await addMemoryImage(graph, { nodeName: 'a', size: 1 << 20 });
    expect(() => removeBitmap(graph, 'zz', 'b')).toThrow("Node 'zz' not found");
    expect(() => removeBitmap(graph, 'a', 'x')).toThrow("Dirty bitmap 'x' not found");
    const { bitmap } = addBitmap(graph, { node: 'a', name: 'b' });
    bitmap.busy = true;
    for (const op of [
      () => removeBitmap(graph, 'a', 'b'),
      () => clearBitmap(graph, 'a', 'b'),
      () => setBitmapEnabled(graph, 'a', 'b', false),
    ]) {
      expect(op).toThrow("Bitmap 'b' is currently in use by another operation and cannot be used");
    }
    bitmap.busy = false;
    bitmap.readOnly = true;
    expect(() => clearBitmap(graph, 'a', 'b')).toThrow("Bitmap 'b' is readonly and cannot be modified");
    setBitmapEnabled(graph, 'a', 'b', false); // allowed on read-only bitmaps
    bitmap.readOnly = false;
    bitmap.inconsistent = true;
    expect(() => clearBitmap(graph, 'a', 'b')).toThrow("Bitmap 'b' is inconsistent and cannot be used");
    expect(bitmap.info().inconsistent).toBe(true);
    removeBitmap(graph, 'a', 'b'); // removing is how an inconsistent bitmap is dropped
    expect(graph.require('a').bitmaps).toEqual([]);
  });

  it('merge, clear, enable and disable, each with an exact undo', async () => {
    const graph = new BlockGraph();
    await addMemoryImage(graph, { nodeName: 'a', size: 1 << 20 });
    addNullNode(graph, { nodeName: 'n', size: 1 << 19 });
    const t = addBitmap(graph, { node: 'a', name: 't', granularity: 4096 }).bitmap;
    const s = addBitmap(graph, { node: 'a', name: 's', granularity: 4096 }).bitmap;
    addBitmap(graph, { node: 'n', name: 'small' });
    t.markWrite(0, 1);
    s.markWrite(8192, 1);
    expect(() => mergeBitmaps(graph, 'a', 't', ['x'])).toThrow("Dirty bitmap 'x' not found");
    expect(() => mergeBitmaps(graph, 'a', 't', [{ node: 'q', name: 'x' }])).toThrow("Node 'q' not found");
    expect(() => mergeBitmaps(graph, 'a', 't', [{ node: 'n', name: 'small' }])).toThrow(
      "Bitmaps are of different sizes (destination size is 1048576, source size is 524288) and can't be merged",
    );
    const merge = mergeBitmaps(graph, 'a', 't', ['s']);
    expect(t.store.count()).toBe(8192);
    merge.undo();
    expect(t.store.count()).toBe(4096);
    const clear = clearBitmap(graph, 'a', 't');
    expect(t.store.count()).toBe(0);
    clear.undo();
    expect(lookupBitmap(graph, 'a', 't').bitmap.store.isDirty(0)).toBe(true);
    const off = setBitmapEnabled(graph, 'a', 't', false);
    t.markWrite(65536, 1);
    expect(t.store.isDirty(65536)).toBe(false);
    off.undo();
    expect(t.enabled).toBe(true);
  });
});
