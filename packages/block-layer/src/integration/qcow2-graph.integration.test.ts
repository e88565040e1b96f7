import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostFile } from '@strata/image-format';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { addBitmap } from '../bitmap/bitmap-commands.js';
import { qcow2Opener } from '../drivers/qcow2-node.js';
import { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { addFileNode, addQcow2Node } from '../graph/open.js';
import { queryNamedBlockNodes } from '../graph/query.js';
import { qemu, qemuImgCheck } from '../test-support/qemu-tools.js';
import { qmpTransaction } from '../transaction/qmp-transaction.js';

const MiB = 1 << 20;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-block-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openQcow2(
  graph: BlockGraph,
  name: string,
  path: string,
  options: { readOnly?: boolean; backing?: BlockNode } = {},
) {
  const readOnly = options.readOnly ?? false;
  const file = await addFileNode(graph, {
    file: await HostFile.open(path, { readOnly }),
    monitorOwned: false,
  });
  return addQcow2Node(graph, {
    nodeName: name,
    file,
    readOnly,
    backing: options.backing ?? null,
    opener: qcow2Opener,
  });
}

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17 + (i >> 9)) & 0xff);
}

describe('block graph over real qcow2 files', () => {
  it('writes through an overlay with copy-on-write; qemu-img sees the same data and a clean image', async () => {
    const base = join(dir, 'base.qcow2');
    const top = join(dir, 'top.qcow2');
    await qemu('qemu-img', ['create', '-f', 'qcow2', base, '4M']);
    await qemu('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 4M', base]);
    await qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top]);

    const graph = new BlockGraph();
    const baseNode = await openQcow2(graph, 'base', base, { readOnly: true });
    const topNode = await openQcow2(graph, 'top', top, { backing: baseNode });
    const vda = BlockBackend.attach(graph, topNode, { name: 'vda' });
    const model = new Uint8Array(4 * MiB).fill(0x5a);
    const writes: Array<[number, Uint8Array]> = [
      [1000, pattern(3000, 1)], // inside the first cluster: COW head and tail from base
      [65536 * 3 - 100, pattern(200, 2)], // across a cluster boundary
      [2 * MiB, pattern(65536, 3)], // a whole cluster
    ];
    await Promise.all(writes.map(([offset, data]) => vda.write(data, offset)));
    for (const [offset, data] of writes) model.set(data, offset);
    await vda.writeZeroes(3 * MiB + 4096, 70000);
    model.fill(0, 3 * MiB + 4096, 3 * MiB + 4096 + 70000);
    const back = new Uint8Array(4 * MiB);
    await vda.read(back, 0);
    expect(Buffer.from(back).equals(Buffer.from(model))).toBe(true);
    expect(queryNamedBlockNodes(graph).find((n) => n['node-name'] === 'top')).toMatchObject({
      backing_file: base,
      image: { 'backing-filename': 'base.qcow2', 'full-backing-filename': base, 'cluster-size': 65536 },
    });
    vda.detach();
    await graph.closeAll();

    expect(await qemuImgCheck(top)).toMatchObject({ 'check-errors': 0 });
    expect((await qemuImgCheck(top))['leaks']).toBeUndefined();
    expect((await qemuImgCheck(base))['corruptions']).toBeUndefined();
    const raw = join(dir, 'top.raw');
    await qemu('qemu-img', ['convert', '-O', 'raw', top, raw]);
    expect(Buffer.from(await readFile(raw)).equals(Buffer.from(model))).toBe(true);
  });

  it('takes an external snapshot in a transaction; both images stay clean', async () => {
    const src = join(dir, 'src.qcow2');
    const ovl = join(dir, 'ovl.qcow2');
    await qemu('qemu-img', ['create', '-f', 'qcow2', src, '2M']);
    await qemu('qemu-img', ['create', '-f', 'qcow2', ovl, '2M']);
    const graph = new BlockGraph();
    const srcNode = await openQcow2(graph, 'src', src);
    await openQcow2(graph, 'ovl', ovl);
    const vda = BlockBackend.attach(graph, srcNode, { name: 'vda' });
    await vda.write(pattern(100_000, 4), 12345);
    addBitmap(graph, { node: 'src', name: 'b0' });
    await qmpTransaction(graph, [
      { type: 'blockdev-snapshot', data: { node: 'src', overlay: 'ovl' } },
      { type: 'block-dirty-bitmap-add', data: { node: 'ovl', name: 'after-snap' } },
    ]);
    expect(srcNode.readOnly).toBe(true);
    await vda.write(pattern(5000, 5), 20000);
    const seen = new Uint8Array(200_000);
    await vda.read(seen, 0);
    const expected = new Uint8Array(200_000);
    expected.set(pattern(100_000, 4), 12345);
    expected.set(pattern(5000, 5), 20000);
    expect(Buffer.from(seen).equals(Buffer.from(expected))).toBe(true);
    const ovlInfo = queryNamedBlockNodes(graph).find((n) => n['node-name'] === 'ovl')!;
    // The overlay's header names no backing file, so QEMU shows a json: pseudo name.
    expect(ovlInfo.file).toBe(
      `json:{"backing": {"driver": "qcow2", "file": {"driver": "file", "filename": "${src}"}}, "driver": "qcow2", "file": {"driver": "file", "filename": "${ovl}"}}`,
    );
    expect(ovlInfo['dirty-bitmaps']).toEqual([
      {
        name: 'after-snap',
        recording: true,
        persistent: false,
        busy: false,
        granularity: 65536,
        count: 65536,
      },
    ]);
    vda.detach();
    await graph.closeAll();
    for (const path of [src, ovl]) expect(await qemuImgCheck(path)).toMatchObject({ 'check-errors': 0 });
    // The old layer holds exactly what was written before the snapshot.
    const raw = join(dir, 'src.raw');
    await qemu('qemu-img', ['convert', '-O', 'raw', src, raw]);
    const before = new Uint8Array(2 * MiB);
    before.set(pattern(100_000, 4), 12345);
    expect(Buffer.from(await readFile(raw)).equals(Buffer.from(before))).toBe(true);
  });
});
