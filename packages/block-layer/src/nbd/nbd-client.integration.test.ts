import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NbdNode } from '../drivers/nbd-node.js';
import { BlockError } from '../errors.js';
import { blockdevAdd } from '../graph/blockdev-add.js';
import { BlockGraph } from '../graph/graph.js';
import { addMemoryImage, readNode } from '../test-support/memory-graph.js';
import { peer, spawnPeer, waitFor } from './test-support/peers.js';
import { type ServedImage, serveImage } from './test-support/serve.js';

const SIZE = 4 << 20;
let dir: string;
let child: ChildProcess | null = null;
let graph: BlockGraph;
let served: ServedImage | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-nbd-client-'));
  graph = new BlockGraph();
});

afterEach(async () => {
  await graph.closeAll();
  child?.kill();
  child = null;
  await served?.close();
  served = null;
  await rm(dir, { recursive: true, force: true });
});

async function image(name: string, commands: string[] = []): Promise<string> {
  const path = join(dir, name);
  await peer('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(SIZE)]);
  if (commands.length > 0)
    await peer('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), path]);
  return path;
}

async function startQemuNbd(path: string, socket: string): Promise<void> {
  child = await spawnPeer('qemu-nbd', ['-t', '-f', 'qcow2', '-k', socket, '-x', 'disk', path]);
  await waitFor(() => peer('nbdinfo', ['--size', `nbd+unix:///disk?socket=${socket}`]));
}

async function startStorageDaemon(path: string, socket: string): Promise<void> {
  child = await spawnPeer('qemu-storage-daemon', [
    '--blockdev',
    `driver=file,node-name=file0,filename=${path}`,
    '--blockdev',
    'driver=qcow2,node-name=disk0,file=file0',
    '--nbd-server',
    `addr.type=unix,addr.path=${socket}`,
    '--export',
    'type=nbd,id=e0,node-name=disk0,name=disk,writable=on',
  ]);
  await waitFor(() => peer('nbdinfo', ['--size', `nbd+unix:///disk?socket=${socket}`]));
}

/** Writes, zeroes and reads through an nbd node and checks against a model; returns the model. */
async function exercise(node: NbdNode): Promise<Uint8Array> {
  const model = new Uint8Array(SIZE);
  model.fill(0x5a, 0, 1 << 20); // what the image was created with
  const steps: Array<[() => Promise<void>, () => void]> = [
    [() => node.write(new Uint8Array(70000).fill(0xa1), 100000), () => model.fill(0xa1, 100000, 170000)],
    [() => node.writeZeroes(4096, 8192, { mayUnmap: true }), () => model.fill(0, 4096, 12288)],
    [
      () => node.write(new Uint8Array(65536).fill(0xb2), 3 << 20),
      () => model.fill(0xb2, 3 << 20, (3 << 20) + 65536),
    ],
  ];
  for (const [op, apply] of steps) {
    await op();
    apply();
  }
  await node.flush();
  const all = await readNode(node, 0, SIZE);
  expect(Buffer.compare(all, model)).toBe(0);
  const some = await readNode(node, 99999, 3);
  expect([...some]).toEqual([0x5a, 0xa1, 0xa1]);
  return model;
}

async function flat(path: string): Promise<Uint8Array> {
  const out = join(dir, `flat-${Math.random().toString(36).slice(2)}.raw`);
  await peer('qemu-img', ['convert', '-O', 'raw', path, out]);
  return new Uint8Array(await readFile(out));
}

describe('Strata NBD client', () => {
  it('reads and writes a qemu-nbd export through blockdev-add driver nbd', async () => {
    const path = await image('q.qcow2', ['write -P 0x5a 0 1M']);
    const socket = join(dir, 'qemu-nbd.sock');
    await startQemuNbd(path, socket);
    const node = await blockdevAdd(graph, {
      driver: 'nbd',
      'node-name': 'remote',
      server: { type: 'unix', path: socket },
      export: 'disk',
    });
    expect(node).toBeInstanceOf(NbdNode);
    expect(node.length).toBe(SIZE);
    const status = await node.blockStatus(0, SIZE);
    expect(status[0]).toMatchObject({ offset: 0, status: 'data' });
    expect(status.some((e) => e.status === 'zero')).toBe(true);
    const model = await exercise(node as NbdNode);
    await graph.delete('remote');
    child?.kill();
    await new Promise((r) => child?.once('exit', r));
    child = null;
    expect(Buffer.compare(await flat(path), model)).toBe(0);
  });

  it('reads and writes a qemu-storage-daemon export', async () => {
    const path = await image('d.qcow2', ['write -P 0x5a 0 1M']);
    const socket = join(dir, 'qsd.sock');
    await startStorageDaemon(path, socket);
    const node = await blockdevAdd(graph, {
      driver: 'nbd',
      'node-name': 'remote',
      server: { type: 'unix', path: socket },
      export: 'disk',
    });
    const model = await exercise(node as NbdNode);
    const copy = join(dir, 'copy.raw');
    await peer('nbdcopy', [`nbd+unix:///disk?socket=${socket}`, copy]);
    expect(Buffer.compare(new Uint8Array(await readFile(copy)), model)).toBe(0);
  });

  it('talks to Strata’s own server over TCP and serves as a backing node', async () => {
    const path = await image('s.qcow2', ['write -P 0x5a 0 1M']);
    served = await serveImage(dir, path, { writable: false });
    const { listenNbd } = await import('./transport.js');
    const tcp = await listenNbd(served.server, { type: 'inet', host: '127.0.0.1', port: 0 });
    try {
      const address = tcp.address;
      if (address.type !== 'inet') throw new Error('expected a TCP address');
      const remote = await blockdevAdd(graph, {
        driver: 'nbd',
        'node-name': 'base',
        server: { type: 'inet', host: '127.0.0.1', port: address.port },
        export: 'disk',
      });
      expect(remote.readOnly).toBe(true);
      await expect(remote.write(new Uint8Array(512), 0)).rejects.toMatchObject({ reason: 'read-only' });
      const { node: overlay } = await addMemoryImage(graph, { nodeName: 'top', size: SIZE, backing: remote });
      await overlay.write(new Uint8Array(4096).fill(7), 8192);
      const head = await readNode(overlay, 0, 16384);
      expect([...head.subarray(0, 8192)].every((b) => b === 0x5a)).toBe(true);
      expect([...head.subarray(8192, 12288)].every((b) => b === 7)).toBe(true);
      expect([...head.subarray(12288)].every((b) => b === 0x5a)).toBe(true);
      const tail = await readNode(overlay, (1 << 20) - 2, 4);
      expect([...tail]).toEqual([0x5a, 0x5a, 0, 0]);
    } finally {
      await tcp.close();
    }
  });

  it('fails requests cleanly when the server goes away', async () => {
    const path = await image('g.qcow2', ['write -P 0x5a 0 1M']);
    const socket = join(dir, 'gone.sock');
    await startQemuNbd(path, socket);
    const node = await blockdevAdd(graph, {
      driver: 'nbd',
      'node-name': 'remote',
      server: { type: 'unix', path: socket },
      export: 'disk',
    });
    await readNode(node, 0, 4096);
    child?.kill('SIGKILL');
    await new Promise((r) => child?.once('exit', r));
    child = null;
    const failure = await readNode(node, 0, 4096).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(BlockError);
    expect((failure as BlockError).reason).toBe('io');
    expect((failure as BlockError).message).toMatch(/closed the connection|connection failed/);
  });

  it('refuses an unknown export and a missing server with typed errors, adding no node', async () => {
    const path = await image('u.qcow2');
    const socket = join(dir, 'u.sock');
    await startQemuNbd(path, socket);
    await expect(
      blockdevAdd(graph, {
        driver: 'nbd',
        'node-name': 'x',
        server: { type: 'unix', path: socket },
        export: 'nope',
      }),
    ).rejects.toMatchObject({ reason: 'not-found' });
    await expect(
      blockdevAdd(graph, {
        driver: 'nbd',
        'node-name': 'y',
        server: { type: 'unix', path: join(dir, 'none.sock') },
      }),
    ).rejects.toMatchObject({ reason: 'io' });
    expect(graph.nodes.map((n) => n.name)).toEqual([]);
  });
});
