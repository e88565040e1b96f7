import { BlockError, type BlockGraph, type BlockNode } from '@strata/block-layer';
import type { JsonObject } from '@strata/qmp-protocol';
import type { Register } from './monitor.js';

/**
 * `blockdev-reopen`, for what the block layer can change on an open node: its read-only
 * state (with its implicitly opened file). Every entry is checked before any node changes,
 * with QEMU's messages; an absent `read-only` means read-write, as in QEMU, where omitted
 * options return to their defaults.
 */
export function registerReopenCommand(on: Register, graph: BlockGraph): void {
  on('blockdev-reopen', async (args) => {
    const entries = (args['options'] ?? []) as JsonObject[];
    const plan: { node: BlockNode; readOnly: boolean }[] = [];
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
      plan.push({ node, readOnly: options['read-only'] === true });
    }
    for (const { node, readOnly } of plan) await graph.reopen(node, readOnly);
  });
}
