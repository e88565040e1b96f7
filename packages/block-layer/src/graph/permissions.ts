/**
 * Block permissions, as data. A user of a node (a parent node through an edge, a backend,
 * a job) holds some permissions and tolerates ("shares") some permissions of others; two
 * users conflict when one needs what the other does not share.
 */

/** One permission, by its QMP-facing name. */
export type Permission = 'consistent-read' | 'write' | 'write-unchanged' | 'resize' | 'graph-mod';

/** Every permission, in the order QEMU lists them in messages. */
export const ALL_PERMISSIONS: readonly Permission[] = [
  'consistent-read',
  'write',
  'write-unchanged',
  'resize',
  'graph-mod',
];

/** How each permission is spelled in conflict messages. */
export const PERMISSION_WORDS: Readonly<Record<Permission, string>> = {
  'consistent-read': 'consistent read',
  write: 'write',
  'write-unchanged': 'write unchanged',
  resize: 'resize',
  'graph-mod': 'change children',
};

/** A set of permissions. Immutable: operations return new sets. */
export type PermissionSet = ReadonlySet<Permission>;

/** Builds a permission set. */
export function perms(...list: Permission[]): PermissionSet {
  return new Set(list);
}

/** No permission at all. */
export const NO_PERMISSIONS: PermissionSet = perms();
/** Every permission (what a user shares when it tolerates anything). */
export const EVERY_PERMISSION: PermissionSet = perms(...ALL_PERMISSIONS);

/** What one user of a node needs and tolerates. */
export interface PermissionClaim {
  readonly perm: PermissionSet;
  readonly shared: PermissionSet;
}

/** `a ∪ b`. */
export function union(a: PermissionSet, b: PermissionSet): PermissionSet {
  return new Set([...a, ...b]);
}

/** `a ∩ b`. */
export function intersect(a: PermissionSet, b: PermissionSet): PermissionSet {
  return new Set([...a].filter((p) => b.has(p)));
}

/** `a \ b`. */
export function without(a: PermissionSet, b: PermissionSet): PermissionSet {
  return new Set([...a].filter((p) => !b.has(p)));
}

/** Names a set the way QEMU's messages do: `write, resize`, in the canonical order. */
export function describePermissions(set: PermissionSet): string {
  return ALL_PERMISSIONS.filter((p) => set.has(p))
    .map((p) => PERMISSION_WORDS[p])
    .join(', ');
}

/**
 * Preset claims for the usual users, so callers state intent instead of listing bits.
 * `writer` is a guest device or a writable export; `reader` tolerates writers (QEMU's
 * default for a read-only export); `exclusiveWriter` is a job target nobody else may touch.
 */
export const CLAIMS = {
  reader: { perm: perms('consistent-read'), shared: EVERY_PERMISSION },
  writer: {
    perm: perms('consistent-read', 'write'),
    shared: perms('consistent-read', 'write', 'write-unchanged', 'graph-mod'),
  },
  exclusiveWriter: { perm: perms('write'), shared: perms('write-unchanged') },
  none: { perm: NO_PERMISSIONS, shared: EVERY_PERMISSION },
} as const satisfies Record<string, PermissionClaim>;
