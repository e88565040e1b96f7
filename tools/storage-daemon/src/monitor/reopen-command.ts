import { BlockError, type BlockGraph, type BlockNode, Transaction } from '@strata/block-layer';
import type { JsonObject } from '@strata/qmp-protocol';
import type { Register } from './monitor.js';

/** What one `blockdev-reopen` entry changes on its node. */
interface ReopenPlan {
  node: BlockNode;
  readOnly: boolean;
  /** The new backing node, null to detach it, or undefined to keep the current link. */
  backing: BlockNode | null | undefined;
}

/**
 * `blockdev-reopen`, for what the block layer can change on an open node: its read-only
 * state (with its implicitly opened file) and its backing link (a reference to another
 * node replaces it, null detaches it). Every entry is checked before any node changes,
 * with QEMU's messages; an absent `read-only` means read-write, as in QEMU, where omitted
 * options return to their defaults — except `backing`, which must be given whenever the
 * node has a backing node or its image names a backing file.
 */
export function registerReopenCommand(on: Register, graph: BlockGraph): void {
  on('blockdev-reopen', async (args) => {
    const entries = (args['options'] ?? []) as JsonObject[];
    const plan: ReopenPlan[] = [];
    for (const options of entries) {
      const name = options['node-name'];
      if (typeof name !== 'string') throw new BlockError('invalid-argument', 'node-name not specified');
      const node = graph.find(name);
      if (!node) throw new BlockError('not-found', `Failed to find node with node-name='${name}'`);
      if (options['driver'] !== node.driver) {
        throw new BlockError('invalid-argument', "Cannot change the option 'driver'");
      }
      const file = options['file'];
      if (typeof file === 'string' && node.file && file !== node.file.name) {
        // QEMU can swap a node's file child here; the block layer cannot yet.
        throw new BlockError(
          'invalid-argument',
          `Changing the file child of '${name}' is not supported by strata-storage-daemon`,
        );
      }
      plan.push({ node, readOnly: options['read-only'] === true, backing: backingOf(graph, node, options) });
    }
    // Backing links change all-or-nothing (a cycle found on the second entry undoes the first).
    const links = new Transaction();
    try {
      for (const { node, backing } of plan) {
        if (backing !== undefined && backing !== node.backing) graph.setBacking(node, backing, links);
      }
    } catch (error) {
      links.abort();
      throw error;
    }
    links.commit();
    for (const { node, readOnly } of plan) await graph.reopen(node, readOnly);
  });
}

/** The backing an entry asks for, checked as QEMU checks it before anything changes. */
function backingOf(graph: BlockGraph, node: BlockNode, options: JsonObject): BlockNode | null | undefined {
  if (!('backing' in options)) {
    const namedInImage = node.imageInfo()['backing-filename'] !== undefined;
    if (node.backing || (node.supportsBacking && namedInImage)) {
      throw new BlockError('invalid-argument', `backing is missing for '${node.name}'`);
    }
    return undefined;
  }
  const backing = options['backing'];
  if (backing === null) return null;
  if (typeof backing === 'string') {
    const target = graph.find(backing);
    if (!target) throw new BlockError('not-found', `Cannot find device='' nor node-name='${backing}'`);
    return target;
  }
  // A set of options reopens the current child with them; only its own name is understood here.
  const childName = (backing as JsonObject)['node-name'];
  if (node.backing && childName === node.backing.name) return undefined;
  throw new BlockError(
    'invalid-argument',
    `Reopening the backing child of '${node.name}' with new options is not supported by strata-storage-daemon`,
  );
}
