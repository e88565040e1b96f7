import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostFile } from '@strata/image-format';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { qcow2Opener } from '../drivers/qcow2-node.js';
import { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { addFileNode, addQcow2Node } from '../graph/open.js';
import { blockStream } from '../job/block-stream.js';
import { JobManager } from '../job/job-manager.js';
import { qemu, qemuImgCheck } from '../test-support/qemu-tools.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-stream-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function open(
  graph: BlockGraph,
  name: string | undefined,
  path: string,
  readOnly: boolean,
  backing: BlockNode | null,
) {
  const file = await addFileNode(graph, {
    file: await HostFile.open(path, { readOnly }),
    monitorOwned: false,
  });
  const options: Parameters<typeof addQcow2Node>[1] = { file, readOnly, backing, opener: qcow2Opener };
  if (name) options.nodeName = name;
  else options.monitorOwned = false;
  return addQcow2Node(graph, options);
}

/** base ← mid ← top, written with qemu-io (as the QEMU transcript's images were). */
async function makeChain() {
  const base = join(dir, 'base.qcow2');
  const mid = join(dir, 'mid.qcow2');
  const top = join(dir, 'top.qcow2');
  await qemu('qemu-img', ['create', '-f', 'qcow2', base, '8M']);
  await qemu('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 8M', base]);
  await qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', mid]);
  await qemu('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x22 1M 2M', '-c', 'write -P 0x23 7M 12345', mid]);
  await qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', top]);
  await qemu('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x33 1536K 64K', top]);
  const expected = join(dir, 'expected.raw');
  await qemu('qemu-img', ['convert', '-O', 'raw', top, expected]);
  return { base, mid, top, expected };
}

describe('stream job on real qcow2 chains', () => {
  it('streams mid into top keeping base; qemu-img sees the new chain, same data, clean images', async () => {
    const { base, mid, top, expected } = await makeChain();
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const baseNode = await open(graph, undefined, base, true, null);
    const midNode = await open(graph, undefined, mid, true, baseNode);
    const topNode = await open(graph, 'top', top, false, midNode);
    const vda = BlockBackend.attach(graph, topNode, { name: 'vda' });
    const job = await blockStream(graph, jobs, { 'job-id': 's1', device: 'top', 'base-node': baseNode.name });
    // A guest write racing with the job must survive it.
    await vda.write(new Uint8Array(4096).fill(0x44), 2 * 1024 * 1024 + 100);
    await job.until((j) => j.status === 'null');
    expect(topNode.backing).toBe(baseNode);
    expect(graph.find(midNode.name)).toBeUndefined();
    vda.detach();
    await graph.closeAll();

    for (const path of [top, base, mid])
      expect(await qemuImgCheck(path)).toMatchObject({ 'check-errors': 0 });
    const info = JSON.parse(await qemu('qemu-img', ['info', '--output=json', top])) as Record<
      string,
      unknown
    >;
    expect(info['backing-filename']).toBe(base);
    expect(info['backing-filename-format']).toBe('qcow2');
    const want = Buffer.from(await readFile(expected));
    want.fill(0x44, 2 * 1024 * 1024 + 100, 2 * 1024 * 1024 + 100 + 4096);
    const got = join(dir, 'got.raw');
    await qemu('qemu-img', ['convert', '-O', 'raw', top, got]);
    expect(Buffer.from(await readFile(got)).equals(want)).toBe(true);
  });

  it('streams the whole chain: top no longer needs a backing file', async () => {
    const { base, mid, top, expected } = await makeChain();
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const baseNode = await open(graph, undefined, base, true, null);
    const midNode = await open(graph, undefined, mid, true, baseNode);
    await open(graph, 'top', top, false, midNode);
    const job = await blockStream(graph, jobs, { 'job-id': 'all', device: 'top' });
    await job.until((j) => j.status === 'null');
    await graph.closeAll();
    expect(await qemuImgCheck(top)).toMatchObject({ 'check-errors': 0 });
    const info = JSON.parse(await qemu('qemu-img', ['info', '--output=json', top])) as Record<
      string,
      unknown
    >;
    expect(info['backing-filename']).toBeUndefined();
    await rm(mid);
    await rm(base);
    const got = join(dir, 'got.raw');
    await qemu('qemu-img', ['convert', '-O', 'raw', top, got]);
    expect(Buffer.from(await readFile(got)).equals(Buffer.from(await readFile(expected)))).toBe(true);
  });
});
