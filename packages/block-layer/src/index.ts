/**
 * @strata/block-layer: the block node graph (nodes, links, permissions), block backends,
 * request tracking and drain, dirty bitmaps, QEMU's job state machine, and transactions.
 */

export { BlockError, type BlockErrorReason, type QmpErrorClass } from './errors.js';

/** Permissions: names, sets and preset claims. */
export {
  ALL_PERMISSIONS,
  CLAIMS,
  describePermissions,
  EVERY_PERMISSION,
  NO_PERMISSIONS,
  type Permission,
  type PermissionClaim,
  type PermissionSet,
  perms,
} from './graph/permissions.js';
export { BlockEdge, type BlockUser } from './graph/edge.js';
export { BlockNode, type ImageInfo, type WriteZeroesOptions } from './graph/node.js';
export { BlockGraph, type BlockGraphOptions } from './graph/graph.js';
export { checkNodeName, isWellFormedId, MAX_NODE_NAME_LENGTH, NodeNameGenerator } from './graph/node-name.js';
export { addFileNode, addNullNode, addQcow2Node, addRawNode, type NodeOptions } from './graph/open.js';

export { FileNode, type FileReopener } from './drivers/file-node.js';
export { NullNode, NULL_DEFAULT_SIZE } from './drivers/null-node.js';
export { RawNode } from './drivers/raw-node.js';
export { Qcow2Node, type FormatOpener } from './drivers/qcow2-node.js';
export { FilterNode, PassThroughFilter } from './drivers/filter-node.js';

export { RequestTracker } from './io/request-tracker.js';
export { drain, drained, waitIdle, type DrainedSection } from './io/drain.js';
export {
  BlockBackend,
  type BlockBackendOptions,
  type WriteNotifier,
  type WriteRequest,
} from './backend/block-backend.js';

export { ArrayBitmapStore, type DirtyBitmapStore } from './bitmap/bitmap-store.js';
export {
  BdrvDirtyBitmap,
  type BitmapCheck,
  type BlockDirtyInfo,
  CHECK_ALLOW_READ_ONLY,
  CHECK_DEFAULT,
  MAX_BITMAP_NAME_LENGTH,
} from './bitmap/dirty-bitmap.js';

export { inTransaction, Transaction, type TransactionStep } from './transaction/transaction.js';
