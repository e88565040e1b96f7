import type { PermissionClaim } from './permissions.js';
import { NO_PERMISSIONS, EVERY_PERMISSION } from './permissions.js';
import type { BlockNode } from './node.js';

/**
 * Something that uses a node: a parent node, a block backend, a job. It names itself in
 * permission messages and is told when a node it uses enters or leaves a drained section.
 */
export interface BlockUser {
  readonly kind: 'node' | 'backend' | 'job';
  /** How QEMU's messages name this user, e.g. `node 'a'` or `block device 'vda'`. */
  describe(): string;
  /** A node under this user is being drained: stop issuing new requests. */
  drainedBegin?(): void;
  drainedEnd?(): void;
}

/**
 * One parent→child link (QEMU's BdrvChild): the role (`file`, `backing`, `root`, ...),
 * the permissions currently held and shared on the child, and whether the link is frozen
 * (a job relies on it, so it cannot be changed).
 */
export class BlockEdge {
  /** Permissions currently granted on the child through this edge. */
  claim: PermissionClaim = { perm: NO_PERMISSIONS, shared: EVERY_PERMISSION };
  /** For backends and jobs: what they ask for. Node parents derive theirs from their own users. */
  requested: PermissionClaim;
  frozen = false;

  constructor(
    readonly role: string,
    readonly parent: BlockUser,
    public child: BlockNode,
    requested: PermissionClaim = { perm: NO_PERMISSIONS, shared: EVERY_PERMISSION },
  ) {
    this.requested = requested;
  }
}
