import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { blockdevAdd } from '../graph/blockdev-add.js';
import { BlockGraph } from '../graph/graph.js';
import { blockdevBackup } from '../job/blockdev-backup.js';
import { blockdevMirror } from '../job/blockdev-mirror.js';
import { JobManager } from '../job/job-manager.js';
import { peer, spawnPeer, waitFor } from './test-support/peers.js';
import { type ServedImage, serveImage } from './test-support/serve.js';

const SIZE = 4 << 20;
let dir: string;
let graph: BlockGraph;
let served: ServedImage | null = null;
let child: ChildProcess | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-nbd-jobs-'));
  graph = new BlockGraph();
});

afterEach(async () => {
  await graph.closeAll();
  await served?.close();
  served = null;
  child?.kill();
  child = null;
  await rm(dir, { recursive: true, force: true });
});

async function qcow2(name: string, commands: string[] = []): Promise<string> {
  const path = join(dir, name);
  await peer('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(SIZE)]);
  if (commands.length > 0)
    await peer('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), path]);
  return path;
}

it('mirrors a disk being written onto another Strata graph over NBD, then the copies compare equal', async () => {
  const source = await qcow2('src.qcow2', ['write -P 0x31 0 1M', 'write -P 0x32 2M 512k']);
  const destination = await qcow2('dst.qcow2');
  // "Host B": its own graph and NBD server.
  served = await serveImage(dir, destination);
  await blockdevAdd(graph, {
    driver: 'qcow2',
    'node-name': 'src',
    file: { driver: 'file', filename: source },
  });
  await blockdevAdd(graph, {
    driver: 'nbd',
    'node-name': 'remote',
    server: { type: 'unix', path: served.socket },
    export: 'disk',
  });
  const jobs = new JobManager();
  const job = await blockdevMirror(graph, jobs, {
    'job-id': 'm',
    device: 'src',
    target: 'remote',
    sync: 'full',
  });
  // A guest write while the mirror runs must reach the destination too.
  const srcNode = graph.require('src');
  await srcNode.write(new Uint8Array(65536).fill(0x77), 3 << 20);
  await job.until((j) => j.status === 'ready');
  await srcNode.write(new Uint8Array(4096).fill(0x78), 4096);
  job.complete();
  await job.until((j) => j.status === 'null');
  await graph.closeAll();
  await served.close();
  served = null;
  expect(await peer('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', source, destination])).toContain(
    'Images are identical',
  );
  await peer('qemu-io', [
    '-f',
    'qcow2',
    '-c',
    'read -P 0x78 4k 4k',
    '-c',
    'read -P 0x77 3M 64k',
    destination,
  ]);
});

it('backs a disk up onto a qemu-nbd export', async () => {
  const source = await qcow2('b-src.qcow2', ['write -P 0x41 512k 1M', 'write -z 1M 64k']);
  const target = await qcow2('b-dst.qcow2');
  const socket = join(dir, 'qemu.sock');
  child = await spawnPeer('qemu-nbd', ['-t', '-f', 'qcow2', '-k', socket, '-x', 'disk', target]);
  await waitFor(() => peer('nbdinfo', ['--size', `nbd+unix:///disk?socket=${socket}`]));
  await blockdevAdd(graph, {
    driver: 'qcow2',
    'node-name': 'src',
    file: { driver: 'file', filename: source },
  });
  await blockdevAdd(graph, {
    driver: 'nbd',
    'node-name': 'remote',
    server: { type: 'unix', path: socket },
    export: 'disk',
  });
  const jobs = new JobManager();
  const job = await blockdevBackup(graph, jobs, {
    'job-id': 'b',
    device: 'src',
    target: 'remote',
    sync: 'full',
  });
  await job.until((j) => j.status === 'null');
  await graph.closeAll();
  child.kill();
  await new Promise((r) => child?.once('exit', r));
  child = null;
  expect(await peer('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', source, target])).toContain(
    'Images are identical',
  );
});
