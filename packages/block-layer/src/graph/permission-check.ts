import { BlockError } from '../errors.js';
import type { BlockEdge } from './edge.js';
import type { BlockNode } from './node.js';
import {
  describePermissions,
  EVERY_PERMISSION,
  intersect,
  NO_PERMISSIONS,
  type PermissionClaim,
  union,
  without,
} from './permissions.js';

/**
 * Computes what every edge of the graph holds, from the users at the top down to the
 * leaves, and checks that no two users of a node conflict. Pure: it returns the new
 * assignment or throws, and changes nothing, so a failed graph edit is undone by simply
 * restoring the structure.
 */
export function computePermissions(nodes: readonly BlockNode[]): Map<BlockEdge, PermissionClaim> {
  const claims = new Map<BlockEdge, PermissionClaim>();
  for (const node of topologicalOrder(nodes)) {
    const incoming = node.parents.map((edge) => ({
      edge,
      claim: edge.parent.kind === 'node' ? (claims.get(edge) ?? edge.requested) : edge.requested,
    }));
    for (const a of incoming) {
      for (const b of incoming) {
        if (a === b) continue;
        const missing = without(b.claim.perm, a.claim.shared);
        if (missing.size > 0) throw conflict(node, b.edge, a.edge, describePermissions(missing));
      }
    }
    let perm = NO_PERMISSIONS;
    let shared = EVERY_PERMISSION;
    for (const { claim } of incoming) {
      perm = union(perm, claim.perm);
      shared = intersect(shared, claim.shared);
    }
    if (node.readOnly && (perm.has('write') || perm.has('write-unchanged'))) {
      throw new BlockError('read-only', 'Block node is read-only');
    }
    for (const edge of node.children) claims.set(edge, node.childClaim(edge, { perm, shared }));
  }
  return claims;
}

/** The cumulative claim of a node's users (what it must provide). */
export function cumulativeClaim(node: BlockNode): PermissionClaim {
  let perm = NO_PERMISSIONS;
  let shared = EVERY_PERMISSION;
  for (const edge of node.parents) {
    perm = union(perm, edge.claim.perm);
    shared = intersect(shared, edge.claim.shared);
  }
  return { perm, shared };
}

function conflict(node: BlockNode, requiring: BlockEdge, unsharing: BlockEdge, what: string): BlockError {
  return new BlockError(
    'permission',
    `Permission conflict on node '${node.name}': permissions '${what}' are both required by ` +
      `${requiring.parent.describe()} (uses node '${node.name}' as '${requiring.role}' child) and ` +
      `unshared by ${unsharing.parent.describe()} (uses node '${node.name}' as '${unsharing.role}' child).`,
  );
}

/** Parents before children (Kahn's algorithm over node→node edges). */
function topologicalOrder(nodes: readonly BlockNode[]): BlockNode[] {
  const pending = new Map<BlockNode, number>();
  for (const node of nodes) {
    pending.set(node, node.parents.filter((e) => e.parent.kind === 'node').length);
  }
  const ready = nodes.filter((n) => pending.get(n) === 0);
  const order: BlockNode[] = [];
  while (ready.length > 0) {
    const node = ready.shift()!;
    order.push(node);
    for (const edge of node.children) {
      const left = (pending.get(edge.child) ?? 1) - 1;
      pending.set(edge.child, left);
      if (left === 0) ready.push(edge.child);
    }
  }
  return order;
}
