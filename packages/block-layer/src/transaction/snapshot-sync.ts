import { createQcow2, createRaw, HostFile } from '@strata/image-format';
import { qcow2Opener } from '../drivers/qcow2-node.js';
import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { addFileNode, addQcow2Node, addRawNode } from '../graph/open.js';
import { SnapshotAction } from './snapshot.js';

/** Arguments of `blockdev-snapshot-sync`. */
export interface SnapshotSyncOptions {
  /** The backend's device name, tried first. */
  device?: string;
  /** The node name, tried when no backend has the name `device`. */
  'node-name'?: string;
  'snapshot-file': string;
  /** Required when the node is given by `node-name`. */
  'snapshot-node-name'?: string;
  /** `qcow2` (default) or `raw`. Never probed. */
  format?: string;
  /** `absolute-paths` (default) creates the image over the old node; `existing` opens it as it is. */
  mode?: 'absolute-paths' | 'existing';
}

/**
 * Finds a node by a backend's device name, else by node name, with QEMU's message when
 * neither matches (bdrv_lookup_bs).
 */
export function lookupDeviceOrNode(graph: BlockGraph, device?: string, nodeName?: string): BlockNode {
  if (device !== undefined) {
    for (const node of graph.nodes) {
      for (const edge of node.parents) {
        const name = (edge.parent as { kind: string; name?: unknown }).name;
        if (edge.parent.kind === 'backend' && name === device) return node;
      }
    }
  }
  if (nodeName !== undefined) {
    const node = graph.find(nodeName);
    if (node) return node;
  }
  throw new BlockError(
    'not-found',
    `Cannot find device='${device ?? ''}' nor node-name='${nodeName ?? ''}'`,
    {
      qmpClass: 'GenericError',
    },
  );
}

/**
 * `blockdev-snapshot-sync` as a transaction action: prepare finds the active node,
 * checks it, creates the overlay image over it (absolute-paths: backing file name and
 * format recorded in the header) or takes the existing file as it is, opens it as a node
 * without a backing link and then attaches it exactly like `blockdev-snapshot`. Abort puts
 * the old node back and closes the overlay node; the image file QEMU would have created
 * stays on disk, as QEMU leaves it. The overlay node lives only as long as it has users.
 */
export class SnapshotSyncAction {
  private overlay: BlockNode | null = null;
  private inner: SnapshotAction | null = null;

  constructor(
    private readonly graph: BlockGraph,
    private readonly options: SnapshotSyncOptions,
  ) {}

  async prepare(): Promise<void> {
    const graph = this.graph;
    const options = this.options;
    const old = lookupDeviceOrNode(graph, options.device, options['node-name']);
    const blocker = old.blockers.values().next();
    if (!blocker.done) throw new BlockError('busy', `Node '${old.name}' is busy: ${blocker.value}`);
    const format = options.format ?? 'qcow2';
    const overlayName = options['snapshot-node-name'];
    if (options['node-name'] !== undefined && overlayName === undefined) {
      throw new BlockError('invalid-argument', 'New overlay node-name missing');
    }
    if (overlayName !== undefined && graph.find(overlayName)) {
      throw new BlockError('exists', 'New overlay node-name already in use');
    }
    if (format !== 'qcow2' && format !== 'raw') {
      throw new BlockError('invalid-argument', `Unknown driver '${format}'`);
    }
    const path = options['snapshot-file'];
    if ((options.mode ?? 'absolute-paths') === 'absolute-paths') {
      if (format === 'raw') await createRaw(path, { size: old.length });
      else {
        await createQcow2(path, {
          size: old.length,
          backingFile: old.filename,
          backingFormat: old.driver === 'raw' ? 'raw' : 'qcow2',
        });
      }
    }
    const file = await addFileNode(graph, {
      file: await HostFile.open(path, { readOnly: old.readOnly }),
      monitorOwned: false,
    });
    try {
      const common = {
        file,
        monitorOwned: false,
        ...(overlayName === undefined ? {} : { nodeName: overlayName }),
      };
      this.overlay =
        format === 'raw'
          ? addRawNode(graph, common)
          : await addQcow2Node(graph, { ...common, backing: null, opener: qcow2Opener });
    } catch (error) {
      await graph.dropIfUnused(file);
      throw error;
    }
    this.inner = new SnapshotAction(graph, { node: old.name, overlay: this.overlay.name });
    await this.inner.prepare();
  }

  async commit(): Promise<void> {
    await this.inner?.commit();
  }

  async abort(): Promise<void> {
    this.inner?.abort();
    const overlay = this.overlay;
    this.overlay = null;
    if (overlay) await this.graph.dropIfUnused(overlay);
  }

  /**
   * Ends the drained section and gives up the action's own hold on the overlay: like
   * QEMU dropping its reference, an overlay nobody uses (a node with no parents was
   * snapshotted) is closed again.
   */
  async clean(): Promise<void> {
    this.inner?.clean();
    this.inner = null;
    const overlay = this.overlay;
    this.overlay = null;
    if (overlay) await this.graph.dropIfUnused(overlay);
  }
}
