import {
  intersect,
  perms,
  type PermissionClaim,
  type PermissionSet,
  union,
  without,
  NO_PERMISSIONS,
} from './permissions.js';

/**
 * What a node asks of its children, by the kind of link (QEMU's default child permission
 * rules). `cumulative` is what the node's own users need (union) and tolerate
 * (intersection); a node without users needs nothing and tolerates everything.
 */

/** A filter's child: the filter's users' needs and tolerances, passed through. */
export function filteredChildClaim(cumulative: PermissionClaim): PermissionClaim {
  return { perm: cumulative.perm, shared: cumulative.shared };
}

/**
 * A format node's `file` child holding metadata (qcow2): consistent reads always, and
 * write and resize whenever the node is writable, even with no writer above, because the
 * format updates metadata on its own. Nobody else may write or resize under it.
 */
export function metadataChildClaim(cumulative: PermissionClaim, writable: boolean): PermissionClaim {
  const own: PermissionSet = writable
    ? perms('consistent-read', 'write', 'resize')
    : perms('consistent-read');
  return {
    perm: union(cumulative.perm, own),
    shared: without(
      union(cumulative.shared, perms('consistent-read', 'write-unchanged')),
      perms('write', 'resize'),
    ),
  };
}

/**
 * A `backing` child: only consistent reads are passed down (the overlay never writes its
 * backing). Writes and resizes below are tolerated only if the overlay's users tolerate
 * changing data themselves.
 */
export function backingChildClaim(cumulative: PermissionClaim): PermissionClaim {
  const tolerant = cumulative.shared.has('write') ? perms('write', 'resize') : NO_PERMISSIONS;
  return {
    perm: intersect(cumulative.perm, perms('consistent-read')),
    shared: union(tolerant, perms('consistent-read', 'write-unchanged', 'graph-mod')),
  };
}
