import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostFile, Qcow2Image } from '@strata/image-format';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { addBitmap } from '../bitmap/bitmap-commands.js';
import { BlockGraph } from '../graph/graph.js';
import { addNullNode } from '../graph/open.js';
import { queryNamedBlockNodes } from '../graph/query.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { qmpTransaction } from './qmp-transaction.js';

async function scene() {
  const graph = new BlockGraph({ random: () => 0.5 });
  const src = await addMemoryImage(graph, { nodeName: 'src', size: 1 << 20, path: '/images/ts.qcow2' });
  const ovl = await addMemoryImage(graph, { nodeName: 'ovl', size: 1 << 20, path: '/images/ovl.qcow2' });
  const vda = BlockBackend.attach(graph, src.node, { name: 'vda' });
  await vda.write(filled(65536, 1), 0);
  const b0 = addBitmap(graph, { node: 'src', name: 'b0', granularity: 65536 }).bitmap;
  b0.markWrite(0, 65536);
  const b1 = addBitmap(graph, { node: 'src', name: 'b1', granularity: 65536 }).bitmap;
  b1.markWrite(131072, 1);
  addBitmap(graph, { node: 'src', name: 'gone' });
  return { graph, src, ovl, vda };
}

/** Everything a transaction may change, as comparable data. */
function stateOf(graph: BlockGraph, vda: BlockBackend) {
  return {
    nodes: queryNamedBlockNodes(graph),
    links: graph.nodes.map((n) => ({
      name: n.name,
      ro: n.readOnly,
      children: n.children.map((e) => `${e.role}:${e.child.name}:${[...e.claim.perm].sort()}`),
      parents: n.parents.map((e) => `${e.parent.describe()}:${e.role}`),
      blockers: [...n.blockers.values()],
      quiesced: n.quiesceCount,
      bitmaps: n.bitmaps.map((b) => {
        const runs: Array<[number, number]> = [];
        for (let at = 0, r = b.store.nextDirty(0); r; r = b.store.nextDirty(at)) {
          runs.push([r.offset, r.length]);
          at = r.offset + r.length;
        }
        return { name: b.name, enabled: b.enabled, busy: b.busy, runs };
      }),
    })),
    backend: vda.node.name,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'strata-snapshot-sync-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const snapFile = join(dir, 'snap.qcow2');

const ACTIONS = [
  { type: 'blockdev-snapshot', data: { node: 'src', overlay: 'ovl' } },
  { type: 'block-dirty-bitmap-add', data: { node: 'ovl', name: 'after-snap' } },
  { type: 'block-dirty-bitmap-clear', data: { node: 'src', name: 'b0' } },
  { type: 'block-dirty-bitmap-merge', data: { node: 'src', target: 'b1', bitmaps: ['b0'] } },
  { type: 'block-dirty-bitmap-disable', data: { node: 'src', name: 'b1' } },
  { type: 'block-dirty-bitmap-remove', data: { node: 'src', name: 'gone' } },
  { type: 'block-dirty-bitmap-enable', data: { node: 'src', name: 'b1' } },
  {
    type: 'blockdev-snapshot-sync',
    data: { device: 'vda', 'snapshot-file': snapFile, 'snapshot-node-name': 'snap' },
  },
];

/** Ways an action can fail at prepare time. */
const FAILURES = [
  { type: 'abort', data: {} },
  { type: 'block-dirty-bitmap-add', data: { node: 'src', name: 'b0' } },
  { type: 'block-dirty-bitmap-clear', data: { node: 'src', name: 'nope' } },
  { type: 'blockdev-snapshot', data: { node: 'zz', overlay: 'ovl' } },
  {
    type: 'blockdev-snapshot-sync',
    data: { device: 'vda', 'snapshot-file': join(dir, 'taken.qcow2'), 'snapshot-node-name': 'src' },
  },
  { type: 'blockdev-snapshot-sync', data: { 'node-name': 'src', 'snapshot-file': join(dir, 'x.qcow2') } },
];

describe('QMP transaction', () => {
  it('takes a snapshot: the overlay takes the backing of the active node and its users', async () => {
    const { graph, src, ovl, vda } = await scene();
    await qmpTransaction(graph, [
      { type: 'blockdev-snapshot', data: { node: 'src', overlay: 'ovl' } },
      { type: 'block-dirty-bitmap-add', data: { node: 'ovl', name: 'after-snap' } },
    ]);
    expect(vda.node).toBe(ovl.node);
    expect(ovl.node.backing).toBe(src.node);
    expect(src.node.readOnly).toBe(true);
    expect(src.file.readOnly).toBe(true);
    await vda.write(filled(512, 2), 512);
    const seen = await readNode(ovl.node, 0, 1024);
    expect(seen[0]).toBe(1); // from the backing
    expect(seen[512]).toBe(2);
    expect((await readNode(src.node, 512, 1))[0]).toBe(1); // the old layer is untouched
    const described = queryNamedBlockNodes(graph).find((n) => n['node-name'] === 'ovl')!;
    expect(described.backing_file).toBe('/images/ts.qcow2');
    expect(described['dirty-bitmaps']?.map((b) => b.name)).toEqual(['after-snap']);
    expect(graph.nodes.every((n) => n.quiesceCount === 0)).toBe(true);
    await expect(graph.delete('src')).rejects.toThrow(
      "Node 'src' is busy: node is used as backing hd of 'ovl'",
    );
  });

  it('refuses bad snapshots with QEMU messages', async () => {
    const { graph, vda } = await scene();
    addNullNode(graph, { nodeName: 'nul' });
    const other = await addMemoryImage(graph, { nodeName: 'other' });
    BlockBackend.attach(graph, other.node, { name: 'vdb' });
    const base = await addMemoryImage(graph, { nodeName: 'based' });
    await addMemoryImage(graph, { nodeName: 'withbacking', backing: base.node });
    const cases: Array<[Record<string, string>, string]> = [
      [{ node: 'zz', overlay: 'ovl' }, "Cannot find device='zz' nor node-name='zz'"],
      [{ node: 'src', overlay: 'zz' }, "Cannot find device='zz' nor node-name='zz'"],
      [{ node: 'src', overlay: 'src' }, 'The overlay is already in use'],
      [{ node: 'ovl', overlay: 'ovl' }, "Making 'ovl' a backing child of 'ovl' would create a cycle"],
      [{ node: 'src', overlay: 'other' }, 'The overlay is already in use'],
      [{ node: 'src', overlay: 'withbacking' }, 'The overlay already has a backing image'],
      [{ node: 'src', overlay: 'nul' }, 'The overlay does not support backing images'],
      [
        { node: 'based', overlay: 'ovl' },
        "Node 'based' is busy: node is used as backing hd of 'withbacking'",
      ],
    ];
    for (const [data, message] of cases) {
      const before = stateOf(graph, vda);
      await expect(qmpTransaction(graph, [{ type: 'blockdev-snapshot', data }])).rejects.toThrow(message);
      expect(stateOf(graph, vda)).toEqual(before);
    }
  });

  it('validates action types first and accepts an empty list', async () => {
    const { graph, vda } = await scene();
    const before = stateOf(graph, vda);
    await expect(qmpTransaction(graph, [ACTIONS[1]!, { type: 'x-nope', data: {} }])).rejects.toThrow(
      "Parameter 'type' does not accept value 'x-nope'",
    );
    expect(stateOf(graph, vda)).toEqual(before);
    await qmpTransaction(graph, []);
    await expect(qmpTransaction(graph, [{ type: 'abort', data: {} }])).rejects.toThrow(
      'Transaction aborted using Abort action',
    );
  });

  it('refuses grouped completion mode for non-backup actions and rolls back earlier ones', async () => {
    const { graph, vda } = await scene();
    const before = stateOf(graph, vda);
    await expect(qmpTransaction(graph, [ACTIONS[1]!], { 'completion-mode': 'grouped' })).rejects.toThrow(
      "Action 'block-dirty-bitmap-add' does not support Transaction property completion-mode = grouped",
    );
    expect(stateOf(graph, vda)).toEqual(before);
    await expect(qmpTransaction(graph, [ACTIONS.at(-1)!], { 'completion-mode': 'grouped' })).rejects.toThrow(
      "Action 'blockdev-snapshot-sync' does not support Transaction property completion-mode = grouped",
    );
    expect(stateOf(graph, vda)).toEqual(before);
    expect(existsSync(snapFile)).toBe(false);
  });

  it('a failure in any position leaves the graph and the bitmaps exactly as before', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(
          ACTIONS.map((_, i) => i),
          { minLength: 0 },
        ),
        fc.nat(),
        fc.constantFrom(...FAILURES),
        async (chosen, where, failure) => {
          const { graph, vda } = await scene();
          const actions: Array<{ type: string; data: unknown }> = chosen.map((i) => ACTIONS[i]!);
          actions.splice(where % (actions.length + 1), 0, failure);
          const before = stateOf(graph, vda);
          await expect(qmpTransaction(graph, actions)).rejects.toThrow();
          expect(stateOf(graph, vda)).toEqual(before);
          // And the guest still writes to the node it used before.
          await vda.write(filled(512, 9), 0);
          expect(vda.node.name).toBe('src');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('commits every action when none fails', async () => {
    const { graph, vda, src } = await scene();
    await qmpTransaction(graph, ACTIONS);
    const state = stateOf(graph, vda);
    expect(state.backend).toBe('snap');
    expect(graph.require('snap').backing?.name).toBe('ovl');
    const srcBitmaps = state.links.find((l) => l.name === 'src')!.bitmaps;
    expect(srcBitmaps.map((b) => b.name)).toEqual(['b1', 'b0']);
    expect(srcBitmaps.find((b) => b.name === 'b0')!.runs).toEqual([]);
    expect(srcBitmaps.find((b) => b.name === 'b1')).toMatchObject({ enabled: true, runs: [[131072, 65536]] });
    expect(src.node.readOnly).toBe(true);
  });
});

describe('blockdev-snapshot-sync', () => {
  it('creates the overlay over the active node, recording its file name and format', async () => {
    const { graph, src, vda } = await scene();
    const path = join(dir, 'created.qcow2');
    await qmpTransaction(graph, [
      {
        type: 'blockdev-snapshot-sync',
        data: { device: 'vda', 'snapshot-file': path, 'snapshot-node-name': 'top' },
      },
    ]);
    expect(vda.node.name).toBe('top');
    expect(vda.node.backing).toBe(src.node);
    expect(src.node.readOnly).toBe(true);
    await vda.write(filled(512, 3), 512);
    const seen = await readNode(vda.node, 0, 1024);
    expect([seen[0], seen[512]]).toEqual([1, 3]);
    const described = queryNamedBlockNodes(graph).find((n) => n['node-name'] === 'top')!;
    expect(described.file).toBe(path);
    vda.detach();
    await graph.closeAll();
    const image = await Qcow2Image.open(await HostFile.open(path, { readOnly: true }));
    expect(image.backingFileName).toBe('/images/ts.qcow2');
    expect(image.backingFormat).toBe('qcow2');
    expect(image.virtualSize).toBe(1 << 20);
    await image.close();
  });

  it('opens an existing file as it is in mode existing', async () => {
    const { graph, vda } = await scene();
    const path = join(dir, 'existing.qcow2');
    const first = await scene();
    await qmpTransaction(first.graph, [
      {
        type: 'blockdev-snapshot-sync',
        data: { 'node-name': 'src', 'snapshot-file': path, 'snapshot-node-name': 'n' },
      },
    ]);
    await first.vda.write(filled(512, 5), 4096);
    first.vda.detach();
    await first.graph.closeAll();
    await qmpTransaction(graph, [
      { type: 'blockdev-snapshot-sync', data: { device: 'vda', 'snapshot-file': path, mode: 'existing' } },
    ]);
    expect(vda.node.name).toMatch(/^#block/);
    expect((await readNode(vda.node, 4096, 1))[0]).toBe(5); // the data written before survived
  });

  it('refuses bad arguments with QEMU messages and changes nothing', async () => {
    const { graph, vda } = await scene();
    const path = join(dir, 'refused.qcow2');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ device: 'nope', 'snapshot-file': path }, "Cannot find device='nope' nor node-name=''"],
      [{ 'node-name': 'src', 'snapshot-file': path }, 'New overlay node-name missing'],
      [
        { device: 'vda', 'snapshot-file': path, 'snapshot-node-name': 'ovl' },
        'New overlay node-name already in use',
      ],
      [{ device: 'vda', 'snapshot-file': path, format: 'vmdk' }, "Unknown driver 'vmdk'"],
      [{ device: 'vda', 'snapshot-file': path, mode: 'sideways' }, "Parameter 'mode' does not accept value"],
      [{ device: 'vda' }, "Parameter 'snapshot-file' is missing"],
      [
        { device: 'vda', 'snapshot-file': join(dir, 'missing', 'x.qcow2'), mode: 'existing' },
        'Could not open',
      ],
    ];
    for (const [data, message] of cases) {
      const before = stateOf(graph, vda);
      await expect(qmpTransaction(graph, [{ type: 'blockdev-snapshot-sync', data }])).rejects.toThrow(
        message,
      );
      expect(stateOf(graph, vda)).toEqual(before);
    }
    expect(existsSync(path)).toBe(false);
  });

  it('leaves the file it created on disk when the transaction aborts, as QEMU does', async () => {
    const { graph, vda } = await scene();
    const path = join(dir, 'aborted.qcow2');
    const before = stateOf(graph, vda);
    await expect(
      qmpTransaction(graph, [
        { type: 'blockdev-snapshot-sync', data: { device: 'vda', 'snapshot-file': path } },
        { type: 'abort', data: {} },
      ]),
    ).rejects.toThrow('Transaction aborted using Abort action');
    expect(stateOf(graph, vda)).toEqual(before);
    const image = await Qcow2Image.open(await HostFile.open(path, { readOnly: true }));
    expect(image.backingFileName).toBe('/images/ts.qcow2');
    await image.close();
  });
});

describe('QMP transaction input', () => {
  it('refuses malformed actions with typed errors before doing anything', async () => {
    const { graph, vda } = await scene();
    const before = stateOf(graph, vda);
    const bad: Array<[unknown[], string]> = [
      [[null], "Invalid parameter type for 'actions', expected: object"],
      [[{ data: {} }], "Parameter 'type' is missing"],
      [[{ type: 'block-dirty-bitmap-add' }], "Invalid parameter type for 'data', expected: object"],
      [[{ type: 'block-dirty-bitmap-add', data: { node: 'src' } }], "Parameter 'name' is missing"],
      [
        [{ type: 'blockdev-snapshot', data: { node: 1, overlay: 'ovl' } }],
        "Invalid parameter type for 'node', expected: string",
      ],
      [
        [{ type: 'block-dirty-bitmap-merge', data: { node: 'src', target: 'b0', bitmaps: 'b1' } }],
        "Invalid parameter type for 'bitmaps', expected: array",
      ],
      [
        [
          ACTIONS[1],
          {
            type: 'block-dirty-bitmap-merge',
            data: { node: 'src', target: 'b0', bitmaps: [{ node: 'src' }] },
          },
        ],
        "Parameter 'name' is missing",
      ],
    ];
    for (const [actions, message] of bad) {
      await expect(qmpTransaction(graph, actions as Array<{ type: string }>)).rejects.toMatchObject({
        name: 'BlockError',
        message,
      });
      expect(stateOf(graph, vda)).toEqual(before);
    }
  });
});
