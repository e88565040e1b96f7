import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { blockdevAdd } from '../graph/blockdev-add.js';
import { BlockGraph } from '../graph/graph.js';
import { queryNamedBlockNodes } from '../graph/query.js';
import { qemu } from '../test-support/qemu-tools.js';
import { loadTranscript } from '../test-support/transcript.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-add-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The parts of a node description that do not depend on the machine or on timing. */
function shape(node: Record<string, unknown>) {
  const image = node['image'] as Record<string, unknown>;
  const base = (v: unknown) => (typeof v === 'string' ? basename(v) : null);
  return {
    drv: node['drv'],
    ro: node['ro'],
    file: base(node['file']),
    backing_file: base(node['backing_file']),
    format: image['format'],
    'backing-filename': image['backing-filename'] ?? null,
    'full-backing-filename': base(image['full-backing-filename']),
    'backing-filename-format': image['backing-filename-format'] ?? null,
    'virtual-size': image['format'] === 'file' ? null : image['virtual-size'],
    'cluster-size': image['cluster-size'] ?? null,
    'format-specific': image['format-specific'] ?? null,
  };
}

it('blockdev-add of an overlay opens the same node tree as qemu-storage-daemon', async () => {
  // The chain of the recorded session: base ← mid ← top, 16 MiB, relative backing names.
  await qemu('qemu-img', ['create', '-f', 'qcow2', join(dir, 'base.qcow2'), '16M']);
  await qemu('qemu-img', [
    'create',
    '-f',
    'qcow2',
    '-b',
    'base.qcow2',
    '-F',
    'qcow2',
    join(dir, 'mid.qcow2'),
  ]);
  await qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', join(dir, 'top.qcow2')]);
  const graph = new BlockGraph();
  await blockdevAdd(graph, {
    driver: 'qcow2',
    'node-name': 'top',
    file: { driver: 'file', filename: join(dir, 'top.qcow2') },
  });
  const recorded = loadTranscript('stream.txt')
    .split('\n')
    .find((l) => l.startsWith('S: ') && l.includes('"node-name"') && l.includes('"return": ['))!;
  const qemuNodes = (JSON.parse(recorded.slice(3)) as { return: Array<Record<string, unknown>> }).return;
  const ours = queryNamedBlockNodes(graph) as unknown as Array<Record<string, unknown>>;
  expect(ours.map(shape)).toEqual(qemuNodes.map(shape));
  expect(
    ours.map((n) => typeof n['node-name'] === 'string' && /^#block\d+$/.test(n['node-name'] as string)),
  ).toEqual(qemuNodes.map((n) => (n['node-name'] as string).startsWith('#block')));
  await graph.closeAll();
});
