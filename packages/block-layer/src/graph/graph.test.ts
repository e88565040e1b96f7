import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { PassThroughFilter } from '../drivers/filter-node.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { TestJob } from '../test-support/test-job.js';
import { jobEvents, loadTranscript } from '../test-support/transcript.js';
import { JobManager } from '../job/job-manager.js';
import { BlockGraph } from './graph.js';
import { addNullNode, addRawNode, addFileNode } from './open.js';
import { CLAIMS } from './permissions.js';
import { queryNamedBlockNodes } from './query.js';
import { MemoryFile } from '@strata/image-format';

describe('BlockGraph', () => {
  it('keeps names unique and generates names for implicit nodes', async () => {
    const graph = new BlockGraph({ random: () => 0.42 });
    addNullNode(graph, { nodeName: 'a' });
    expect(() => addNullNode(graph, { nodeName: 'a' })).toThrow("Duplicate nodes with node-name='a'");
    expect(() => addNullNode(graph, { nodeName: '1a' })).toThrow("Invalid node-name: '1a'");
    const { file } = await addMemoryImage(graph, { nodeName: 'img' });
    expect(file.name).toBe('#block042');
    // Newest first, children before their parents (they are opened first).
    expect(graph.nodes.map((n) => n.name)).toEqual(['img', '#block042', 'a']);
  });

  it('deletes with QEMU checks in QEMU order', async () => {
    const graph = new BlockGraph();
    await expect(graph.delete('zz')).rejects.toThrow("Failed to find node with node-name='zz'");
    const base = await addMemoryImage(graph, { nodeName: 'base' });
    const top = await addMemoryImage(graph, { nodeName: 'top', backing: base.node });
    await expect(graph.delete('base')).rejects.toThrow(
      "Node 'base' is busy: node is used as backing hd of 'top'",
    );
    await expect(graph.delete(top.file.name)).rejects.toThrow(
      `Node ${top.file.name} is not owned by the monitor`,
    );
    const vda = BlockBackend.attach(graph, top.node, { name: 'vda' });
    await expect(graph.delete('top')).rejects.toThrow('Node top is in use');
    vda.detach();
    const jobs = new JobManager();
    const job = jobs.create(new TestJob({ graph, id: 'm', type: 'mirror', hold: true }));
    job.addNode(top.node, 'main node', CLAIMS.reader);
    // A job holds its nodes through its own backend.
    await expect(graph.delete('top')).rejects.toThrow('Node top is in use');
    await job.cancel(true);
    const file = await addFileNode(graph, { nodeName: 'f', file: new MemoryFile('/mem/raw') });
    addRawNode(graph, { nodeName: 'r', file });
    await expect(graph.delete('f')).rejects.toThrow('Block device f is in use');

    await graph.delete('top');
    expect(graph.find('top')).toBeUndefined();
    expect(graph.find(top.file.name)).toBeUndefined(); // implicit child went with it
    expect(base.node.parents).toEqual([]);
    expect(base.node.blockers.size).toBe(0);
    await graph.delete('base');
  });

  it('refuses cycles, frozen links and backing on drivers without backing', async () => {
    const graph = new BlockGraph();
    const a = await addMemoryImage(graph, { nodeName: 'a' });
    const b = await addMemoryImage(graph, { nodeName: 'b', backing: a.node });
    expect(() => graph.setBacking(a.node, b.node)).toThrow(
      "Making 'b' a backing child of 'a' would create a cycle",
    );
    expect(() => graph.setBacking(a.node, a.node)).toThrow(
      "Making 'a' a backing child of 'a' would create a cycle",
    );
    const nul = addNullNode(graph, { nodeName: 'n' });
    expect(() => graph.setBacking(nul, a.node)).toThrow(
      "Driver 'null-co' of node 'n' does not support backing files",
    );
    b.node.child('backing')!.frozen = true;
    expect(() => graph.setBacking(b.node, null)).toThrow("Cannot change 'backing' link from 'b' to 'a'");
    expect(b.node.backing).toBe(a.node);
  });

  it('changes backing and reads through the new chain', async () => {
    const graph = new BlockGraph();
    const one = await addMemoryImage(graph, { nodeName: 'one', size: 65536 });
    const two = await addMemoryImage(graph, { nodeName: 'two', size: 65536 });
    await one.node.write(filled(4096, 1), 0);
    await two.node.write(filled(4096, 2), 0);
    const top = await addMemoryImage(graph, { nodeName: 'top', size: 65536, backing: one.node });
    expect((await readNode(top.node, 0, 4))[0]).toBe(1);
    graph.setBacking(top.node, two.node);
    expect((await readNode(top.node, 0, 4))[0]).toBe(2);
    graph.setBacking(top.node, null);
    expect((await readNode(top.node, 0, 4))[0]).toBe(0);
    expect(one.node.blockers.size + two.node.blockers.size).toBe(0);
  });

  it('reopens read-only only without writers, and back to read-write', async () => {
    const graph = new BlockGraph();
    const img = await addMemoryImage(graph, { nodeName: 'img' });
    const vda = BlockBackend.attach(graph, img.node, { name: 'vda' });
    await expect(graph.reopen(img.node, true)).rejects.toThrow('Block node is read-only');
    expect(img.node.readOnly).toBe(false);
    await vda.write(filled(512, 7), 0);
    vda.setClaim(CLAIMS.reader);
    await graph.reopen(img.node, true);
    expect(img.node.readOnly).toBe(true);
    expect(img.file.readOnly).toBe(true); // the implicit file follows
    await expect(img.node.write(filled(512, 1), 0)).rejects.toThrow('Block node is read-only');
    await graph.reopen(img.node, false);
    vda.setClaim(CLAIMS.writer);
    await vda.write(filled(512, 8), 512);
    expect((await readNode(img.node, 0, 1024)).filter((b) => b === 7 || b === 8).length).toBe(1024);
  });

  it('moves users with replaceNode and undoes it on conflict', async () => {
    const graph = new BlockGraph();
    const a = addNullNode(graph, { nodeName: 'a', size: 4096 });
    const b = addNullNode(graph, { nodeName: 'b', size: 4096 });
    const vda = BlockBackend.attach(graph, a, { name: 'vda' });
    const filter = new PassThroughFilter('blkverify', 'flt');
    graph.register(filter);
    graph.attachChild(filter, a, 'file');
    graph.replaceNode(a, b, undefined, (edge) => edge.parent === filter);
    expect(vda.node).toBe(b);
    expect(filter.filtered).toBe(a);
    BlockBackend.attach(graph, a, { claim: CLAIMS.exclusiveWriter, role: 'target' });
    // Moving the guest back onto 'a' conflicts with the exclusive writer: nothing moves.
    expect(() => graph.replaceNode(b, a)).toThrow(/Permission conflict on node 'a'/);
    expect(vda.node).toBe(b);
  });

  it('describes nodes with the members QEMU 7.2 reports', async () => {
    const graph = new BlockGraph();
    const base = await addMemoryImage(graph, { nodeName: 'base', readOnly: true, path: '/images/base.img' });
    const top = await addMemoryImage(graph, {
      nodeName: 'top',
      backing: base.node,
      path: '/images/top.img',
      backingFileName: 'base.img',
    });
    addNullNode(graph, { nodeName: 'nul', size: 16777216 });
    const entries = queryNamedBlockNodes(graph);
    expect(entries.map((e) => e['node-name'])).toEqual(['nul', 'top', top.file.name, 'base', base.file.name]);
    const recorded = recordedNodes();
    const keys = (o: object) => Object.keys(o).sort();
    const qemuOverlay = recorded.find((n) => n['node-name'] === 'top')!;
    const qemuFile = recorded.find((n) => n.drv === 'file')!;
    const qemuNull = recordedNodes('transaction-abort-and-snapshot.txt').find((n) => n.drv === 'null-co')!;
    const ours = (name: string) => entries.find((e) => e['node-name'] === name)!;
    expect(keys(ours('top'))).toEqual(keys(qemuOverlay));
    expect(keys(ours(top.file.name))).toEqual(keys(qemuFile));
    expect(keys(ours('nul'))).toEqual(keys(qemuNull));
    expect(keys(ours(top.file.name).image)).toEqual(keys(qemuFile['image'] as object));
    expect(ours('nul').file).toBe('json:{"driver": "null-co", "size": 16777216}');
    expect(ours('nul').file).toBe(qemuNull.file);
    expect(ours('top')).toMatchObject({
      ro: false,
      drv: 'qcow2',
      backing_file: '/images/base.img',
      file: '/images/top.img',
    });
    expect(ours('top').image).toMatchObject({
      'backing-filename': 'base.img',
      'full-backing-filename': '/images/base.img',
    });
    expect(ours('base').ro).toBe(true);
  });

  it('names a node whose backing differs from its header with a json: pseudo file name', async () => {
    const graph = new BlockGraph();
    const src = await addMemoryImage(graph, { nodeName: 'src', path: '/images/ts.qcow2' });
    const ovl = await addMemoryImage(graph, { nodeName: 'ovl', path: '/images/ovl.qcow2' });
    graph.setBacking(ovl.node, src.node);
    const recorded = recordedNodes('transaction-abort-and-snapshot.txt').find(
      (n) => n['node-name'] === 'ovl',
    )!;
    expect(queryNamedBlockNodes(graph).find((n) => n['node-name'] === 'ovl')!.file).toBe(recorded.file);
  });
});

/** The nodes of the first `query-named-block-nodes` answer in a transcript. */
function recordedNodes(
  file = 'stream.txt',
): Array<Record<string, unknown> & { 'node-name': string; drv: string; file: string }> {
  void jobEvents;
  for (const line of loadTranscript(file).split('\n')) {
    if (line.startsWith('S: ') && line.includes('"node-name"') && line.includes('"return": [')) {
      return (
        JSON.parse(line.slice(3)) as {
          return: Array<Record<string, unknown> & { 'node-name': string; drv: string; file: string }>;
        }
      ).return;
    }
  }
  throw new Error(`no query-named-block-nodes answer in ${file}`);
}
