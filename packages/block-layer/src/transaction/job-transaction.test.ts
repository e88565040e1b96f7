import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { PassThroughFilter } from '../drivers/filter-node.js';
import { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { JobManager } from '../job/job-manager.js';
import { EventLog } from '../test-support/event-log.js';
import { firstDifference, GuestModel } from '../test-support/guest-model.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { jobTransaction } from './job-transaction.js';

const SIZE = 1 << 20;
const CLUSTER = 65536;

async function setup() {
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const log = new EventLog(jobs);
  const src = await addMemoryImage(graph, { nodeName: 'src', size: SIZE, clusterSize: CLUSTER });
  await src.node.write(filled(3 * CLUSTER, 4), CLUSTER);
  const initial = new Uint8Array(SIZE);
  initial.fill(4, CLUSTER, 4 * CLUSTER);
  // The overlay and the mirror target were pre-created by the manager ("reuse external").
  await addMemoryImage(graph, { nodeName: 'ov', size: SIZE, clusterSize: CLUSTER });
  const dst = await addMemoryImage(graph, {
    nodeName: 'dst',
    size: SIZE,
    clusterSize: CLUSTER,
    backing: null,
  });
  const other = await addMemoryImage(graph, { nodeName: 'other', size: SIZE, clusterSize: CLUSTER });
  await other.node.write(filled(CLUSTER, 8), 0);
  await addMemoryImage(graph, { nodeName: 'bk', size: SIZE, clusterSize: CLUSTER });
  const vda = BlockBackend.attach(graph, src.node, { name: 'vda' });
  const vdb = BlockBackend.attach(graph, other.node, { name: 'vdb' });
  return { graph, jobs, log, src, dst, vda, vdb, initial };
}

/** Everything a failed transaction must leave exactly as it was. */
function graphState(graph: BlockGraph, jobs: JobManager) {
  const describeNode = (n: BlockNode) => ({
    name: n.name,
    driver: n.driver,
    readOnly: n.readOnly,
    quiesced: n.quiesceCount,
    children: n.children.map((e) => `${e.role}:${e.child.name}:${e.frozen}`),
    parents: n.parents.map((e) => `${e.role}:${e.parent.describe()}`),
    claims: n.parents.map((e) => `${[...e.claim.perm].sort()}/${[...e.claim.shared].sort()}`),
    bitmaps: n.bitmaps.map((b) => `${b.name}:${b.busy}:${b.enabled}:${b.store.count()}`),
    blockers: [...n.blockers.values()],
  });
  return { nodes: graph.nodes.map(describeNode), jobs: jobs.jobs.map((j) => j.id) };
}

const ACTIONS = [
  { type: 'block-dirty-bitmap-add', data: { node: 'other', name: 'b0' } },
  { type: 'blockdev-snapshot', data: { node: 'src', overlay: 'ov' } },
  { type: 'blockdev-mirror', data: { 'job-id': 'mig', device: 'ov', target: 'dst', sync: 'top' } },
  { type: 'blockdev-backup', data: { 'job-id': 'bak', device: 'other', target: 'bk', sync: 'full' } },
];

describe('transactions with job actions', () => {
  it('snapshot onto a new overlay and mirror the overlay, all at once (live storage migration)', async () => {
    const { graph, jobs, src, dst, vda, initial } = await setup();
    // The destination overlay sits on a copy of the older layers, made in the background.
    const copy = await addMemoryImage(graph, { nodeName: 'copy', size: SIZE, clusterSize: CLUSTER });
    await copy.node.write(await readNode(src.node, 0, SIZE), 0);
    graph.setBacking(dst.node, copy.node);
    await jobTransaction(graph, jobs, ACTIONS.slice(1, 3));
    const mirror = jobs.find('mig')!;
    expect(vda.node.driver).toBe('mirror_top');
    expect(vda.node.backing?.name).toBe('ov');
    expect(src.node.readOnly).toBe(true);
    const guest = new GuestModel(vda, initial, 21);
    await guest.randomWrites(30);
    await mirror.until((j) => j.status === 'ready');
    await guest.randomWrites(30);
    mirror.complete();
    await mirror.until((j) => j.status === 'null');
    expect(vda.node).toBe(dst.node);
    expect(firstDifference(await readNode(dst.node, 0, SIZE), guest.model)).toBe(-1);
  });

  for (let position = 0; position <= ACTIONS.length; position++) {
    it(`a failure at position ${position} leaves graph, files in use, bitmaps and jobs as before`, async () => {
      const { graph, jobs, log } = await setup();
      const before = graphState(graph, jobs);
      const specs = [...ACTIONS];
      specs.splice(position, 0, { type: 'abort', data: {} } as never);
      await expect(jobTransaction(graph, jobs, specs)).rejects.toThrow(
        'Transaction aborted using Abort action',
      );
      expect(graphState(graph, jobs)).toEqual(before);
      // Jobs created before the failure went created -> aborting -> concluded -> null, no BLOCK_JOB event.
      for (const id of ['mig', 'bak']) {
        const names = log.names(id);
        if (names.length > 0) expect(names).toEqual(['created', 'aborting', 'concluded', 'null']);
      }
    });
  }

  it('a failing job action (unknown target) undoes the snapshot and the bitmap before it', async () => {
    const { graph, jobs } = await setup();
    const before = graphState(graph, jobs);
    const specs = [...ACTIONS];
    specs[2] = {
      type: 'blockdev-mirror',
      data: { 'job-id': 'mig', device: 'ov', target: 'nope', sync: 'top' },
    };
    await expect(jobTransaction(graph, jobs, specs)).rejects.toThrow("Cannot find device='nope'");
    expect(graphState(graph, jobs)).toEqual(before);
  });

  it('grouped completion: one backup failing cancels the other; bitmap actions refuse grouped mode', async () => {
    const { graph, jobs, log } = await setup();
    await expect(
      jobTransaction(graph, jobs, [ACTIONS[0]!, ACTIONS[3]!], { 'completion-mode': 'grouped' }),
    ).rejects.toThrow(
      "Action 'block-dirty-bitmap-add' does not support Transaction property completion-mode = grouped",
    );
    const bad = new (class extends PassThroughFilter {
      protected override async doWrite(): Promise<void> {
        throw Object.assign(new Error('Input/output error'), { code: 'EIO' });
      }
    })('blkdebug', 'bad', { role: 'file' });
    graph.register(bad);
    graph.attachChild(bad, (await addMemoryImage(graph, { nodeName: 'inner', size: SIZE })).node, 'file');
    await jobTransaction(
      graph,
      jobs,
      [
        {
          type: 'blockdev-backup',
          data: { 'job-id': 'g-ok', device: 'src', target: 'dst', sync: 'full', speed: 1 },
        },
        {
          type: 'blockdev-backup',
          data: { 'job-id': 'g-bad', device: 'other', target: 'bad', sync: 'full' },
        },
      ],
      { 'completion-mode': 'grouped' },
    );
    const ok = jobs.find('g-ok')!;
    await ok.until((j) => j.status === 'null');
    expect(log.names('g-bad')).toContain('BLOCK_JOB_COMPLETED');
    expect(log.of('g-bad').find((e) => e.event === 'BLOCK_JOB_COMPLETED')!.data['error']).toBe(
      'Input/output error',
    );
    expect(log.names('g-ok')).toContain('BLOCK_JOB_CANCELLED');
    expect(graph.nodes.some((n) => n.driver === 'copy-before-write')).toBe(false);
  });

  it('checks every action before running any', async () => {
    const { graph, jobs } = await setup();
    const before = graphState(graph, jobs);
    await expect(
      jobTransaction(graph, jobs, [ACTIONS[0]!, { type: 'blockdev-mirror', data: { device: 'ov' } }]),
    ).rejects.toThrow("Parameter 'target' is missing");
    await expect(
      jobTransaction(graph, jobs, [ACTIONS[0]!, { type: 'drive-mirror', data: {} }]),
    ).rejects.toThrow("Parameter 'type' does not accept value 'drive-mirror'");
    expect(graphState(graph, jobs)).toEqual(before);
  });
});
