import { MemoryFile } from '@strata/image-format';
import { describe, expect, it } from 'vitest';
import { simpleOpener } from '../test-support/memory-graph.js';
import { SimpleImage } from '../test-support/simple-image.js';
import { type BlockdevEnvironment, blockdevAdd } from './blockdev-add.js';
import { BlockGraph } from './graph.js';
import { queryNamedBlockNodes } from './query.js';

async function files(spec: Record<string, string | null>): Promise<BlockdevEnvironment> {
  const map = new Map<string, MemoryFile>();
  for (const [path, backing] of Object.entries(spec)) {
    const file = new MemoryFile(path);
    const options: { virtualSize: number; backingFileName?: string } = { virtualSize: 65536 };
    if (backing) options.backingFileName = backing;
    await SimpleImage.create(file, options);
    map.set(path, file);
  }
  return {
    qcow2Opener: simpleOpener,
    openFile: async (path) => {
      const file = map.get(path);
      if (!file) throw new Error(`Could not open '${path}': No such file or directory`);
      return file;
    },
  };
}

describe('blockdevAdd', () => {
  it('opens the backing chain named in headers, read-only, newest node first', async () => {
    const env = await files({ '/i/base.img': null, '/i/mid.img': 'base.img', '/i/top.img': 'mid.img' });
    const graph = new BlockGraph();
    const top = await blockdevAdd(
      graph,
      { driver: 'qcow2', 'node-name': 'top', file: { driver: 'file', filename: '/i/top.img' } },
      env,
    );
    const rows = queryNamedBlockNodes(graph).map((n) => [n.drv, n.ro, n.file, n.backing_file ?? null]);
    // QEMU's order for the same blockdev-add (stream transcript): backing nodes are opened last.
    expect(rows).toEqual([
      ['qcow2', true, '/i/base.img', null],
      ['file', true, '/i/base.img', null],
      ['qcow2', true, '/i/mid.img', '/i/base.img'],
      ['file', true, '/i/mid.img', null],
      ['qcow2', false, '/i/top.img', '/i/mid.img'],
      ['file', false, '/i/top.img', null],
    ]);
    expect(top.backing?.backing?.backing).toBeNull();
    expect(graph.nodes.filter((n) => n.monitorOwned).map((n) => n.name)).toEqual(['top']);
    await graph.delete('top');
    expect(graph.nodes).toEqual([]);
  });

  it('honours backing: null and references to existing nodes', async () => {
    const env = await files({ '/i/a.img': 'missing.img', '/i/b.img': null });
    const graph = new BlockGraph();
    const b = await blockdevAdd(
      graph,
      { driver: 'qcow2', 'node-name': 'b', file: { driver: 'file', filename: '/i/b.img' } },
      env,
    );
    await blockdevAdd(graph, { driver: 'file', 'node-name': 'af', filename: '/i/a.img' }, env);
    const a = await blockdevAdd(graph, { driver: 'qcow2', 'node-name': 'a', file: 'af', backing: null }, env);
    expect(a.backing).toBeNull();
    const a2 = await blockdevAdd(graph, { driver: 'null-co', 'node-name': 'n', size: 4096 }, env);
    expect(a2.length).toBe(4096);
    expect(b.backing).toBeNull();
  });

  it('fails cleanly: nothing stays open when any part fails', async () => {
    const env = await files({
      '/i/a.img': 'missing.img',
      '/i/loop1.img': 'loop2.img',
      '/i/loop2.img': 'loop1.img',
    });
    const graph = new BlockGraph();
    await expect(blockdevAdd(graph, { driver: 'file', filename: '/i/a.img' }, env)).rejects.toThrow(
      "'node-name' must be specified for the root node",
    );
    await expect(
      blockdevAdd(
        graph,
        { driver: 'qcow2', 'node-name': 'a', file: { driver: 'file', filename: '/i/a.img' } },
        env,
      ),
    ).rejects.toThrow("Could not open '/i/missing.img': No such file or directory");
    await expect(
      blockdevAdd(
        graph,
        { driver: 'qcow2', 'node-name': 'l', file: { driver: 'file', filename: '/i/loop1.img' } },
        env,
      ),
    ).rejects.toThrow("loops back to '/i/loop1.img'");
    await expect(
      blockdevAdd(graph, { driver: 'qcow2', 'node-name': 'x', file: 'nope' }, env),
    ).rejects.toThrow("Cannot find device='nope' nor node-name='nope'");
    await expect(blockdevAdd(graph, { driver: 'null-co', 'node-name': '9' }, env)).rejects.toThrow(
      "Invalid node-name: '9'",
    );
    expect(graph.nodes).toEqual([]);
    await blockdevAdd(graph, { driver: 'null-co', 'node-name': 'n' }, env);
    await expect(blockdevAdd(graph, { driver: 'null-co', 'node-name': 'n' }, env)).rejects.toThrow(
      "Duplicate nodes with node-name='n'",
    );
    expect(graph.nodes.length).toBe(1);
  });
});

describe('blockdevAdd input', () => {
  it('refuses malformed options with typed errors and opens nothing', async () => {
    const env = await files({});
    const graph = new BlockGraph();
    const bad: Array<[unknown, string]> = [
      [null, "Invalid parameter type for 'options', expected: object"],
      [{ 'node-name': 'a' }, "Parameter 'driver' is missing"],
      [{ 'node-name': 'a', driver: 'file' }, "Parameter 'filename' is missing"],
      [{ 'node-name': 'a', driver: 'qcow2' }, "Parameter 'file' is missing"],
      [{ 'node-name': 'a', driver: 'qcow2', file: 5 }, "Invalid parameter type for 'file', expected: object"],
      [{ 'node-name': 'a', driver: 'vvfat' }, "Parameter 'driver' does not accept value 'vvfat'"],
      [{ 'node-name': 7, driver: 'null-co' }, "Invalid parameter type for 'node-name', expected: string"],
    ];
    for (const [options, message] of bad) {
      await expect(blockdevAdd(graph, options as never, env)).rejects.toMatchObject({
        name: 'BlockError',
        message,
      });
    }
    expect(graph.nodes).toEqual([]);
  });
});
