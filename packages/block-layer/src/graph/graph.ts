import { BlockError } from '../errors.js';
import { inTransaction, type Transaction } from '../transaction/transaction.js';
import { BlockEdge, type BlockUser } from './edge.js';
import { checkNodeName, NodeNameGenerator } from './node-name.js';
import type { BlockNode } from './node.js';
import { computePermissions } from './permission-check.js';
import type { PermissionClaim } from './permissions.js';

/** Options of a {@link BlockGraph}. */
export interface BlockGraphOptions {
  /** Source of the random digits in generated node names (for reproducible tests). */
  random?: () => number;
}

/**
 * The block graph: every node by unique name, the links between them, and the rules for
 * changing those links. Every structural edit runs inside a {@link Transaction} (its own,
 * or the caller's): the change is applied at once, permissions are recomputed for the
 * whole graph, and on any failure the edit is undone, leaving the graph as it was.
 */
export class BlockGraph {
  private readonly list: BlockNode[] = [];
  private readonly generator: NodeNameGenerator;

  constructor(options: BlockGraphOptions = {}) {
    this.generator = new NodeNameGenerator(options.random);
  }

  /** All nodes, newest first (the order `query-named-block-nodes` lists them in). */
  get nodes(): readonly BlockNode[] {
    return this.list;
  }

  find(name: string): BlockNode | undefined {
    return this.list.find((n) => n.name === name);
  }

  /** Finds a node or throws QEMU's lookup error for node-name arguments. */
  require(name: string): BlockNode {
    const node = this.find(name);
    if (!node) {
      throw new BlockError('not-found', `Cannot find device='${name}' nor node-name='${name}'`, {
        qmpClass: 'GenericError',
      });
    }
    return node;
  }

  /** Validates a user-chosen node name, or generates one when none is given. */
  nameFor(requested: string | undefined): string {
    if (requested === undefined) {
      let name = this.generator.next();
      while (this.find(name)) name = this.generator.next();
      return name;
    }
    checkNodeName(requested);
    if (this.find(requested)) {
      throw new BlockError('exists', `Duplicate nodes with node-name='${requested}'`);
    }
    return requested;
  }

  /** Adds an opened node to the graph. Its children must be registered already. */
  register(node: BlockNode, options: { monitorOwned?: boolean } = {}): void {
    if (this.find(node.name)) throw new BlockError('exists', `Duplicate nodes with node-name='${node.name}'`);
    node.monitorOwned = options.monitorOwned ?? false;
    this.list.unshift(node);
  }

  /** Removes a node that has no users left (its children links are dropped, children kept). */
  unregister(node: BlockNode, tran?: Transaction): void {
    inTransaction(tran, (t) => {
      for (const edge of [...node.children]) this.detach(edge, t);
      const at = this.list.indexOf(node);
      if (at < 0) return;
      this.list.splice(at, 1);
      t.add({ abort: () => this.list.splice(at, 0, node) });
    });
  }

  // ---- links -----------------------------------------------------------------------

  /** Links `child` under a parent node in `role` (`file`, `backing`, ...). */
  attachChild(parent: BlockNode, child: BlockNode, role: string, tran?: Transaction): BlockEdge {
    return inTransaction(tran, (t) => {
      if (parent.child(role)) {
        throw new BlockError('exists', `Node '${parent.name}' already has a '${role}' child`);
      }
      if (parent === child || this.isAncestor(parent, child)) {
        throw new BlockError(
          'invalid-argument',
          `Making '${child.name}' a ${role} child of '${parent.name}' would create a cycle`,
        );
      }
      const edge = new BlockEdge(role, parent, child);
      this.link(edge, t);
      if (role === 'backing') this.blockAsBacking(edge, t);
      this.refreshPermissions(t);
      return edge;
    });
  }

  /** Links `child` under a backend or a job, which asks for `claim` on it. */
  attachUser(
    user: BlockUser,
    child: BlockNode,
    role: string,
    claim: PermissionClaim,
    tran?: Transaction,
  ): BlockEdge {
    return inTransaction(tran, (t) => {
      const edge = new BlockEdge(role, user, child, claim);
      this.link(edge, t);
      this.refreshPermissions(t);
      return edge;
    });
  }

  /** Removes a link. Frozen links are refused. */
  detach(edge: BlockEdge, tran?: Transaction): void {
    inTransaction(tran, (t) => {
      if (edge.frozen) {
        throw new BlockError(
          'busy',
          `Cannot change '${edge.role}' link from '${describeOwner(edge)}' to '${edge.child.name}'`,
        );
      }
      const child = edge.child;
      const parentIndex = child.parents.indexOf(edge);
      if (parentIndex >= 0) child.parents.splice(parentIndex, 1);
      const owner = edge.parent.kind === 'node' ? (edge.parent as BlockNode) : null;
      const childIndex = owner ? owner.children.indexOf(edge) : -1;
      if (owner && childIndex >= 0) owner.children.splice(childIndex, 1);
      const blocker = child.blockers.get(edge);
      child.blockers.delete(edge);
      t.add({
        abort: () => {
          if (parentIndex >= 0) child.parents.splice(parentIndex, 0, edge);
          if (owner && childIndex >= 0) owner.children.splice(childIndex, 0, edge);
          if (blocker !== undefined) child.blockers.set(edge, blocker);
          this.applyPermissionsBestEffort();
        },
      });
      this.refreshPermissions(t);
    });
  }

  /** Changes what a backend or job asks for on its node. */
  setRequested(edge: BlockEdge, claim: PermissionClaim, tran?: Transaction): void {
    inTransaction(tran, (t) => {
      const before = edge.requested;
      edge.requested = claim;
      t.add({
        abort: () => {
          edge.requested = before;
          this.applyPermissionsBestEffort();
        },
      });
      this.refreshPermissions(t);
    });
  }

  /**
   * Sets (or with null, removes) a node's backing link, as QEMU's bdrv_set_backing_hd:
   * refused for frozen links, drivers without backing support, and cycles.
   */
  setBacking(node: BlockNode, backing: BlockNode | null, tran?: Transaction): void {
    inTransaction(tran, (t) => {
      const current = node.child('backing');
      if (current?.frozen) {
        throw new BlockError(
          'busy',
          `Cannot change 'backing' link from '${node.name}' to '${current.child.name}'`,
        );
      }
      if (backing && !node.supportsBacking) {
        throw new BlockError(
          'invalid-argument',
          `Driver '${node.driver}' of node '${node.name}' does not support backing files`,
        );
      }
      if (current) this.detach(current, t);
      if (backing) this.attachChild(node, backing, 'backing', t);
    });
  }

  /**
   * Moves every user of `from` (except those `keep` selects) over to `to`, as QEMU's
   * bdrv_replace_node: how an overlay takes the place of the node it snapshots, and how a
   * job's target takes the place of its source.
   */
  replaceNode(
    from: BlockNode,
    to: BlockNode,
    tran?: Transaction,
    keep: (edge: BlockEdge) => boolean = () => false,
  ): void {
    inTransaction(tran, (t) => {
      for (const edge of [...from.parents]) {
        if (keep(edge)) continue;
        if (edge.parent === to) continue;
        if (edge.frozen) {
          throw new BlockError(
            'busy',
            `Cannot change '${edge.role}' link from '${describeOwner(edge)}' to '${from.name}'`,
          );
        }
        if (
          edge.parent.kind === 'node' &&
          (edge.parent === to || this.isAncestor(edge.parent as BlockNode, to))
        ) {
          throw new BlockError(
            'invalid-argument',
            `Making '${to.name}' a ${edge.role} child of '${(edge.parent as BlockNode).name}' would create a cycle`,
          );
        }
        const index = from.parents.indexOf(edge);
        from.parents.splice(index, 1);
        to.parents.unshift(edge);
        edge.child = to;
        // A backing link's blocker belongs to the node the link now points at.
        const blocker = from.blockers.get(edge);
        if (blocker !== undefined) {
          from.blockers.delete(edge);
          to.blockers.set(edge, blocker);
        }
        t.add({
          abort: () => {
            const at = to.parents.indexOf(edge);
            if (at >= 0) to.parents.splice(at, 1);
            from.parents.splice(index, 0, edge);
            edge.child = from;
            if (blocker !== undefined) {
              to.blockers.delete(edge);
              from.blockers.set(edge, blocker);
            }
            this.applyPermissionsBestEffort();
          },
        });
      }
      this.refreshPermissions(t);
    });
  }

  /** Recomputes every edge's permissions; throws (changing nothing) on a conflict. */
  refreshPermissions(tran?: Transaction): void {
    const claims = computePermissions(this.list);
    const before = new Map<BlockEdge, PermissionClaim>();
    for (const [edge, claim] of claims) {
      before.set(edge, edge.claim);
      edge.claim = claim;
    }
    for (const node of this.list) {
      for (const edge of node.parents) {
        if (edge.parent.kind !== 'node') {
          before.set(edge, edge.claim);
          edge.claim = edge.requested;
        }
      }
    }
    tran?.add({
      abort: () => {
        for (const [edge, claim] of before) edge.claim = claim;
      },
    });
  }

  /** Whether `ancestor` is above `node` (through any chain of node links). */
  isAncestor(node: BlockNode, ancestor: BlockNode): boolean {
    const seen = new Set<BlockNode>();
    const stack = [node];
    while (stack.length > 0) {
      const current = stack.pop()!;
      for (const edge of current.parents) {
        if (edge.parent.kind !== 'node') continue;
        const parent = edge.parent as BlockNode;
        if (parent === ancestor) return true;
        if (!seen.has(parent)) {
          seen.add(parent);
          stack.push(parent);
        }
      }
    }
    return false;
  }

  /** Every node below `node` (not including it). */
  descendants(node: BlockNode): BlockNode[] {
    const seen = new Set<BlockNode>();
    const stack = [node];
    while (stack.length > 0) {
      for (const edge of stack.pop()!.children) {
        if (!seen.has(edge.child)) {
          seen.add(edge.child);
          stack.push(edge.child);
        }
      }
    }
    return [...seen];
  }

  /** Every node above `node` (not including it). */
  ancestors(node: BlockNode): BlockNode[] {
    return this.list.filter((n) => n !== node && this.isAncestor(node, n));
  }

  // ---- read-only state, deletion ---------------------------------------------------

  /**
   * Reopens a node read-only or read-write (and its implicitly opened `file` child with
   * it, as QEMU's option inheritance does). Going read-only is refused while a user holds
   * write permission; on failure the node is left as it was.
   */
  async reopen(node: BlockNode, readOnly: boolean): Promise<void> {
    const affected = [node];
    const file = node.file;
    if (file && !file.monitorOwned && file.parents.length === 1) affected.push(file);
    const before = affected.map((n) => n.readOnly);
    if (readOnly) {
      for (const n of affected) n.readOnly = true;
      try {
        this.refreshPermissions();
      } catch (error) {
        affected.forEach((n, i) => {
          n.readOnly = before[i]!;
        });
        throw error;
      }
      for (const n of affected) n.readOnly = before[affected.indexOf(n)]!;
      // Flush and reopen top-down so the format writes back before its file turns read-only.
      for (const n of affected) await n.reopen(true);
      this.refreshPermissions();
      return;
    }
    // Read-write: files first, so the format can open for writing on top of them.
    const reopened: BlockNode[] = [];
    try {
      for (const n of [...affected].reverse()) {
        if (!n.readOnly) continue;
        await n.reopen(false);
        reopened.push(n);
      }
      this.refreshPermissions();
    } catch (error) {
      for (const n of reopened.reverse()) await n.reopen(true).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Deletes a node the user added (blockdev-del), with QEMU's checks in QEMU's order, and
   * closes the implicit children nobody else uses.
   */
  async delete(name: string): Promise<void> {
    const node = this.find(name);
    if (!node) throw new BlockError('not-found', `Failed to find node with node-name='${name}'`);
    if (node.parents.some((e) => e.parent.kind !== 'node')) {
      throw new BlockError('in-use', `Node ${name} is in use`);
    }
    const blocker = node.blockers.values().next();
    if (!blocker.done) throw new BlockError('busy', `Node '${name}' is busy: ${blocker.value}`);
    if (!node.monitorOwned) throw new BlockError('in-use', `Node ${name} is not owned by the monitor`);
    if (node.parents.length > 0) throw new BlockError('in-use', `Block device ${name} is in use`);
    await this.drop(node);
  }

  /**
   * Closes every node (for shutdown): parents before their children, so formats write
   * back through files that are still open. Users (backends, jobs) must be gone or idle.
   */
  async closeAll(): Promise<void> {
    while (this.list.length > 0) {
      const top =
        this.list.find(
          (n) =>
            !n.parents.some((e) => e.parent.kind === 'node' && this.list.includes(e.parent as BlockNode)),
        ) ?? this.list[0]!;
      this.list.splice(this.list.indexOf(top), 1);
      await top.close();
    }
  }

  /**
   * Closes `node` if it was opened implicitly and nothing uses it any more (QEMU drops a
   * node with its last reference), and then its children in the same way.
   */
  async dropIfUnused(node: BlockNode): Promise<void> {
    if (!node.monitorOwned && node.parents.length === 0 && this.list.includes(node)) await this.drop(node);
  }

  /** Unregisters and closes `node`, then any implicit child left without users. */
  private async drop(node: BlockNode): Promise<void> {
    const children = node.children.map((e) => e.child);
    for (const edge of node.children) edge.frozen = false;
    // Close first: a format writes back through its children on close.
    await node.close();
    this.unregister(node);
    for (const child of children) {
      if (!child.monitorOwned && child.parents.length === 0 && this.list.includes(child))
        await this.drop(child);
    }
  }

  private link(edge: BlockEdge, tran: Transaction): void {
    edge.child.parents.unshift(edge);
    const owner = edge.parent.kind === 'node' ? (edge.parent as BlockNode) : null;
    owner?.children.push(edge);
    tran.add({
      abort: () => {
        const at = edge.child.parents.indexOf(edge);
        if (at >= 0) edge.child.parents.splice(at, 1);
        if (owner) {
          const c = owner.children.indexOf(edge);
          if (c >= 0) owner.children.splice(c, 1);
        }
        this.applyPermissionsBestEffort();
      },
    });
  }

  /** A backing node cannot be deleted or reused while an overlay sits on it. */
  private blockAsBacking(edge: BlockEdge, tran: Transaction): void {
    edge.child.blockers.set(edge, `node is used as backing hd of '${(edge.parent as BlockNode).name}'`);
    tran.add({ abort: () => edge.child.blockers.delete(edge) });
  }

  /** Used while undoing: intermediate states may conflict; the final one never does. */
  private applyPermissionsBestEffort(): void {
    try {
      this.refreshPermissions();
    } catch {
      // A later undo step restores a consistent graph and recomputes again.
    }
  }
}

function describeOwner(edge: BlockEdge): string {
  return edge.parent.kind === 'node' ? (edge.parent as BlockNode).name : edge.parent.describe();
}
