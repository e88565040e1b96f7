import { access } from 'node:fs/promises';
import { BlockError, type BlockGraph, blockdevAdd, qmpTransaction } from '@strata/block-layer';
import { createQcow2 } from '@strata/image-format';
import type { Register } from './monitor.js';

/**
 * `blockdev-snapshot-sync`: creates the overlay file (mode `absolute-paths`, the default)
 * with the node's file as its backing file and the node's format recorded, or opens an
 * existing one (mode `existing`), then takes the same external snapshot as
 * `blockdev-snapshot`. If the snapshot fails, the overlay node is closed again; if it
 * succeeds, the overlay stays open only while something uses it, as in QEMU.
 */
export function registerSnapshotSyncCommand(on: Register, graph: BlockGraph): void {
  on('blockdev-snapshot-sync', async (args) => {
    const device = typeof args['device'] === 'string' ? args['device'] : undefined;
    const nodeName = typeof args['node-name'] === 'string' ? args['node-name'] : undefined;
    const node = graph.find(nodeName ?? device ?? '');
    if (!node) {
      throw new BlockError(
        'not-found',
        `Cannot find device='${device ?? ''}' nor node-name='${nodeName ?? ''}'`,
      );
    }
    const overlayName = args['snapshot-node-name'];
    if (typeof overlayName !== 'string')
      throw new BlockError('invalid-argument', 'New overlay node-name missing');
    if (graph.find(overlayName)) throw new BlockError('exists', 'New overlay node-name already in use');
    const format = typeof args['format'] === 'string' ? args['format'] : 'qcow2';
    if (format !== 'qcow2') {
      throw new BlockError('invalid-argument', `Backing file not supported for file format '${format}'`);
    }
    const file = String(args['snapshot-file']);
    if (args['mode'] !== 'existing') {
      const backingFormat = node.driver === 'raw' ? 'raw' : 'qcow2';
      try {
        await createQcow2(file, { size: node.length, backingFile: node.filename, backingFormat });
      } catch (error) {
        const reason = await access(file).then(
          () => (error instanceof Error ? error.message : String(error)),
          () => 'No such file or directory',
        );
        throw new BlockError('io', `Could not create '${file}': ${reason}`, { cause: error });
      }
    }
    await blockdevAdd(graph, {
      driver: 'qcow2',
      'node-name': overlayName,
      file: { driver: 'file', filename: file },
      backing: null,
    });
    try {
      await qmpTransaction(graph, [
        { type: 'blockdev-snapshot', data: { node: node.name, overlay: overlayName } },
      ]);
    } catch (error) {
      await graph.delete(overlayName).catch(() => undefined);
      throw error;
    }
    // QEMU opens this overlay as an implicit node: it lives only as long as something uses
    // it. With no device above the old node (nothing to move onto the overlay), QEMU closes
    // the overlay at once and leaves the old node read-only; do the same.
    const overlay = graph.find(overlayName);
    if (overlay) {
      overlay.monitorOwned = false;
      await graph.dropIfUnused(overlay);
    }
  });
}
