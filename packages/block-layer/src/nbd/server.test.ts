import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { addBitmap } from '../bitmap/bitmap-commands.js';
import { BlockGraph } from '../graph/graph.js';
import { addMemoryImage } from '../test-support/memory-graph.js';
import { NbdServer } from './server.js';

async function setup() {
  const graph = new BlockGraph();
  await addMemoryImage(graph, { nodeName: 'disk', size: 1 << 20 });
  return graph;
}

describe('NBD export registry', () => {
  it('adds, lists and removes exports, calling back when one is gone', async () => {
    const graph = await setup();
    const deleted: string[] = [];
    const server = new NbdServer({ onExportDeleted: (id) => deleted.push(id) });
    server.addExport(graph, { id: 'e1', node: 'disk' });
    server.addExport(graph, { id: 'e2', node: 'disk', name: 'other', writable: true });
    expect(server.queryExports()).toEqual([
      { type: 'nbd', id: 'e1', 'node-name': 'disk', 'shutting-down': false },
      { type: 'nbd', id: 'e2', 'node-name': 'disk', 'shutting-down': false },
    ]);
    await server.removeExport('e1');
    expect(deleted).toEqual(['e1']);
    expect(server.queryExports().map((e) => e.id)).toEqual(['e2']);
    await server.stop();
    expect(deleted).toEqual(['e1', 'e2']);
    expect(graph.require('disk').parents).toEqual([]);
  });

  it('refuses duplicate ids and names, unknown nodes and bitmaps, with nothing attached', async () => {
    const graph = await setup();
    const server = new NbdServer();
    server.addExport(graph, { id: 'e1', node: 'disk' });
    expect(() => server.addExport(graph, { id: 'e1', node: 'disk', name: 'x' })).toThrow(/already in use/);
    expect(() => server.addExport(graph, { id: 'e2', node: 'disk' })).toThrow(
      /already has export named 'disk'/,
    );
    expect(() => server.addExport(graph, { id: 'e3', node: 'nope' })).toThrow(
      expect.objectContaining({ qmpClass: 'DeviceNotFound' }),
    );
    expect(() =>
      server.addExport(graph, { id: 'e4', node: 'disk', name: 'b', bitmaps: ['missing'] }),
    ).toThrow("Bitmap 'missing' is not found");
    expect(graph.require('disk').parents).toHaveLength(1);
    await expect(server.removeExport('zzz')).rejects.toThrow(/not found/);
  });

  it('marks exported bitmaps busy, refuses busy ones and enabled ones on read-only exports', async () => {
    const graph = await setup();
    const { bitmap } = addBitmap(graph, { node: 'disk', name: 'b0' });
    const server = new NbdServer();
    expect(() => server.addExport(graph, { id: 'ro', node: 'disk', bitmaps: ['b0'] })).toThrow(
      "Enabled bitmap 'b0' incompatible with readonly export",
    );
    server.addExport(graph, { id: 'rw', node: 'disk', writable: true, bitmaps: ['b0'] });
    expect(bitmap.busy).toBe(true);
    expect(() =>
      server.addExport(graph, { id: 'rw2', node: 'disk', name: 'x', writable: true, bitmaps: ['b0'] }),
    ).toThrow(/in use/);
    await server.removeExport('rw');
    expect(bitmap.busy).toBe(false);
  });

  it('finds a plain bitmap name down the backing chain, and a {node, name} bitmap on that node', async () => {
    const graph = new BlockGraph();
    const { node: base } = await addMemoryImage(graph, { nodeName: 'base', size: 1 << 20, readOnly: true });
    await addMemoryImage(graph, { nodeName: 'top', size: 1 << 20, backing: base });
    const { bitmap } = addBitmap(graph, { node: 'base', name: 'old', disabled: true });
    const server = new NbdServer();
    const viaChain = server.addExport(graph, { id: 'a', node: 'top', bitmaps: ['old'] });
    expect(viaChain.contexts.map((c) => c.name)).toEqual(['base:allocation', 'qemu:dirty-bitmap:old']);
    expect(bitmap.busy).toBe(true);
    await server.removeExport('a');
    const named = server.addExport(graph, { id: 'b', node: 'top', bitmaps: [{ node: 'base', name: 'old' }] });
    expect(named.contexts[1]?.bitmap).toBe(bitmap);
    expect(() =>
      server.addExport(graph, { id: 'c', node: 'top', name: 'c', bitmaps: [{ node: 'top', name: 'old' }] }),
    ).toThrow("Bitmap 'old' is not found");
  });

  it('selects contexts with QEMU’s fixed ids, wildcards only when listing', async () => {
    const graph = await setup();
    addBitmap(graph, { node: 'disk', name: 'a' });
    addBitmap(graph, { node: 'disk', name: 'b' });
    const server = new NbdServer();
    const exp = server.addExport(graph, {
      id: 'e',
      node: 'disk',
      writable: true,
      bitmaps: ['b', 'a'],
      allocationDepth: true,
    });
    const names = (list: { id: number; name: string }[]) => list.map((c) => `${c.id}:${c.name}`);
    expect(names(exp.selectContexts([], true))).toEqual([
      '0:base:allocation',
      '1:qemu:allocation-depth',
      '2:qemu:dirty-bitmap:b',
      '3:qemu:dirty-bitmap:a',
    ]);
    expect(names(exp.selectContexts(['qemu:dirty-bitmap:'], true))).toEqual([
      '2:qemu:dirty-bitmap:b',
      '3:qemu:dirty-bitmap:a',
    ]);
    expect(names(exp.selectContexts(['qemu:dirty-bitmap:'], false))).toEqual([]);
    expect(
      names(
        exp.selectContexts(['qemu:dirty-bitmap:a', 'nope:x', 'base:allocation', 'base:allocation'], false),
      ),
    ).toEqual(['0:base:allocation', '3:qemu:dirty-bitmap:a']);
    expect(exp.selectContexts(['x'.repeat(5000)], true)).toEqual([]);
  });

  it('closes connections over the limit at once', async () => {
    const graph = await setup();
    const server = new NbdServer({ maxConnections: 2, handshakeTimeoutMs: 0 });
    server.addExport(graph, { id: 'e', node: 'disk' });
    // Streams that accept the greeting and never answer (an idle client).
    const idle = () => new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
    const streams = [idle(), idle(), idle()];
    expect(streams.map((s) => server.handleConnection(s))).toEqual([true, true, false]);
    expect(streams[2]?.destroyed).toBe(true);
    expect(server.connectionCount).toBe(2);
    await server.stop();
    expect(server.connectionCount).toBe(0);
  });
});
