import { MemoryFile } from '@strata/image-format';
import { describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockError } from '../errors.js';
import { addMemoryImage, simpleOpener } from '../test-support/memory-graph.js';
import { BlockGraph } from './graph.js';
import { addFileNode, addNullNode, addQcow2Node } from './open.js';
import { CLAIMS, describePermissions, perms } from './permissions.js';

describe('permissions', () => {
  it('names permission sets in QEMU order', () => {
    expect(describePermissions(perms('resize', 'write'))).toBe('write, resize');
    expect(describePermissions(perms('graph-mod', 'consistent-read', 'write-unchanged'))).toBe(
      'consistent read, write unchanged, change children',
    );
  });

  it('refuses a second writable format node on the same file with QEMU message', async () => {
    const graph = new BlockGraph();
    const { file } = await addMemoryImage(graph, { nodeName: 'a' });
    file.name = 'f';
    const before = file.parents.length;
    const attempt = addQcow2Node(graph, { nodeName: 'b', file, opener: simpleOpener });
    await expect(attempt).rejects.toThrow(
      "Permission conflict on node 'f': permissions 'write, resize' are both required by node 'a' " +
        "(uses node 'f' as 'file' child) and unshared by node 'b' (uses node 'f' as 'file' child).",
    );
    await expect(attempt).rejects.toMatchObject({ reason: 'permission', qmpClass: 'GenericError' });
    expect(file.parents.length).toBe(before);
    expect(graph.find('b')).toBeUndefined();
  });

  it('lets read-only format nodes share a file', async () => {
    const graph = new BlockGraph();
    const memory = new MemoryFile('/mem/shared');
    const { SimpleImage } = await import('../test-support/simple-image.js');
    await SimpleImage.create(memory, { virtualSize: 65536 });
    const file = await addFileNode(graph, { nodeName: 'f', file: memory });
    await addQcow2Node(graph, { nodeName: 'a', file, readOnly: true, opener: simpleOpener });
    await addQcow2Node(graph, { nodeName: 'b', file, readOnly: true, opener: simpleOpener });
    expect(file.parents.map((e) => e.parent.describe())).toEqual(["node 'b'", "node 'a'"]);
  });

  it('refuses conflicting backends and leaves the first one working', async () => {
    const graph = new BlockGraph();
    const node = addNullNode(graph, { nodeName: 'n', size: 4096 });
    const guest = BlockBackend.attach(graph, node, { name: 'vda' });
    expect(() => BlockBackend.attach(graph, node, { claim: CLAIMS.exclusiveWriter, role: 'target' })).toThrow(
      "Permission conflict on node 'n': permissions 'consistent read, write' are both required by " +
        "block device 'vda' (uses node 'n' as 'root' child) and unshared by an unnamed block device " +
        "(uses node 'n' as 'target' child).",
    );
    expect(node.parents.length).toBe(1);
    await guest.write(new Uint8Array(512), 0);
  });

  it('refuses writers on read-only nodes and keeps permissions on failed claim changes', async () => {
    const graph = new BlockGraph();
    const ro = addNullNode(graph, { nodeName: 'ro', readOnly: true, size: 4096 });
    expect(() => BlockBackend.attach(graph, ro)).toThrow('Block node is read-only');
    const reader = BlockBackend.attach(graph, ro, { claim: CLAIMS.reader });
    expect(() => reader.setClaim(CLAIMS.writer)).toThrow(BlockError);
    expect(reader.claim).toBe(CLAIMS.reader);
  });

  it('passes permissions down a chain: a writer above a format node holds write on its file', async () => {
    const graph = new BlockGraph();
    const base = await addMemoryImage(graph, { nodeName: 'base', readOnly: true });
    const top = await addMemoryImage(graph, { nodeName: 'top', backing: base.node });
    BlockBackend.attach(graph, top.node, { name: 'vda' });
    const fileEdge = top.file.parents[0]!;
    expect([...fileEdge.claim.perm].sort()).toEqual(['consistent-read', 'resize', 'write']);
    const backingEdge = top.node.child('backing')!;
    expect([...backingEdge.claim.perm]).toEqual(['consistent-read']);
    // The guest tolerates other writers, so the backing may be written by others too.
    expect(backingEdge.claim.shared.has('write')).toBe(true);
  });
});
