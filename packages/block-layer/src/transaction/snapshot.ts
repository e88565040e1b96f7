import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { type DrainedSection, drain } from '../io/drain.js';
import { Transaction } from './transaction.js';

/**
 * Puts `overlay` on top of `node` (QEMU's bdrv_append): the overlay's backing becomes
 * `node`, and every user of `node` moves to the overlay. Registered in `tran`, so an
 * abort gives `node` its users back and detaches the overlay's backing.
 */
export function appendOverlay(
  graph: BlockGraph,
  overlay: BlockNode,
  node: BlockNode,
  tran: Transaction,
): void {
  graph.setBacking(overlay, node, tran);
  graph.replaceNode(node, overlay, tran, (edge) => edge.parent === overlay);
}

/** Arguments of `blockdev-snapshot`. */
export interface SnapshotOptions {
  node: string;
  overlay: string;
}

/**
 * `blockdev-snapshot` as a transaction action: prepare drains the active node, checks
 * the overlay, and attaches it at once; commit reopens the old node read-only; abort
 * restores the graph exactly; clean ends the drained section. The overlay's image header
 * is not rewritten (as in QEMU).
 */
export class SnapshotAction {
  private section: DrainedSection | null = null;
  private readonly tran = new Transaction();
  private old: BlockNode | null = null;

  constructor(
    private readonly graph: BlockGraph,
    private readonly options: SnapshotOptions,
  ) {}

  async prepare(): Promise<void> {
    const node = this.graph.require(this.options.node);
    this.section = await drain(this.graph, [node]);
    const blocker = node.blockers.values().next();
    if (!blocker.done) throw new BlockError('busy', `Node '${node.name}' is busy: ${blocker.value}`);
    const overlay = this.graph.require(this.options.overlay);
    if (overlay.parents.some((e) => e.parent.kind !== 'node')) {
      throw new BlockError('in-use', 'The overlay is already in use');
    }
    const overlayBlocker = overlay.blockers.values().next();
    if (!overlayBlocker.done) {
      throw new BlockError('busy', `Node '${overlay.name}' is busy: ${overlayBlocker.value}`);
    }
    if (overlay.backing) throw new BlockError('invalid-argument', 'The overlay already has a backing image');
    if (!overlay.supportsBacking) {
      throw new BlockError('invalid-argument', 'The overlay does not support backing images');
    }
    appendOverlay(this.graph, overlay, node, this.tran);
    this.old = node;
  }

  async commit(): Promise<void> {
    this.tran.commit();
    // The old active layer is now a backing file; QEMU reopens it read-only, ignoring failure.
    if (this.old && !this.old.readOnly) await this.graph.reopen(this.old, true).catch(() => undefined);
  }

  abort(): void {
    this.tran.abort();
  }

  clean(): void {
    this.section?.end();
    this.section = null;
  }
}
