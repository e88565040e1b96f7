/**
 * @strata/block-layer: the block node graph (nodes, links, permissions), block backends,
 * request tracking and drain, dirty bitmaps, QEMU's job state machine, and transactions.
 */

// ---- errors --------------------------------------------------------------------------
/** The package's error family and the QMP error classes it maps to. */
export { BlockError, type BlockErrorReason, type QmpErrorClass } from './errors.js';

// ---- graph ---------------------------------------------------------------------------
/** Permissions: names, sets and preset claims for backends and jobs. */
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
/** A parent→child link and the users of nodes. */
export { BlockEdge, type BlockUser } from './graph/edge.js';
/** The base of every node driver. */
export { BlockNode, type ImageInfo, type WriteZeroesOptions } from './graph/node.js';
/** The graph: unique names, links, permission checks, reopen, deletion. */
export { BlockGraph, type BlockGraphOptions } from './graph/graph.js';
/** Node-name rules and QEMU-style generated names. */
export { checkNodeName, isWellFormedId, MAX_NODE_NAME_LENGTH, NodeNameGenerator } from './graph/node-name.js';
/** Constructors for the built-in node kinds. */
export { addFileNode, addNullNode, addQcow2Node, addRawNode, type NodeOptions } from './graph/open.js';
/** `blockdev-add`: node trees from QMP options, with backing chains opened from headers. */
export {
  type BlockdevCommon,
  type BlockdevEnvironment,
  type BlockdevOptions,
  type BlockdevRef,
  blockdevAdd,
} from './graph/blockdev-add.js';
/** `query-named-block-nodes` as plain data. */
export { type BlockDeviceInfo, describeNode, queryNamedBlockNodes } from './graph/query.js';

// ---- drivers -------------------------------------------------------------------------
/** The `file` protocol node. */
export { FileNode, type FileReopener } from './drivers/file-node.js';
/** The `null-co` node. */
export { NULL_DEFAULT_SIZE, NullNode } from './drivers/null-node.js';
/** The `raw` format node. */
export { RawNode } from './drivers/raw-node.js';
/** The qcow2 format node over an image-format driver, and the default qcow2 opener. */
export { type FormatOpener, Qcow2Node, qcow2Opener } from './drivers/qcow2-node.js';
/** Base class of the filters jobs insert. */
export { FilterNode, PassThroughFilter } from './drivers/filter-node.js';
/** The backing node as an image-format backing driver. */
export { NodeBackingDriver } from './io/node-backing-driver.js';

// ---- I/O -----------------------------------------------------------------------------
/** Per-node request counting and freeze/thaw. */
export { RequestTracker } from './io/request-tracker.js';
/** Drained sections. */
export { type DrainedSection, drain, drained, waitIdle } from './io/drain.js';
/** Attachment points holding permissions, with write notifiers. */
export {
  BlockBackend,
  type BlockBackendOptions,
  type WriteNotifier,
  type WriteRequest,
} from './backend/block-backend.js';

// ---- dirty bitmaps -------------------------------------------------------------------
/** Bit storage behind a dirty bitmap. */
export { ArrayBitmapStore, type DirtyBitmapStore } from './bitmap/bitmap-store.js';
/** The default store: image-format's DirtyBitmap (qcow2 bit order). */
export { ImageFormatBitmapStore } from './bitmap/image-format-store.js';
/** A dirty bitmap on a node, with busy/inconsistent flags and successors. */
export {
  BdrvDirtyBitmap,
  type BitmapCheck,
  type BlockDirtyInfo,
  CHECK_ALLOW_READ_ONLY,
  CHECK_DEFAULT,
  MAX_BITMAP_NAME_LENGTH,
} from './bitmap/dirty-bitmap.js';
/** The `block-dirty-bitmap-*` operations with QEMU's checks. */
export {
  addBitmap,
  type BitmapAddOptions,
  type BitmapSource,
  clearBitmap,
  defaultGranularity,
  lookupBitmap,
  mergeBitmaps,
  removeBitmap,
  setBitmapEnabled,
} from './bitmap/bitmap-commands.js';

// ---- jobs ----------------------------------------------------------------------------
/** The job state machine as data. */
export {
  canTransition,
  isCompletedStatus,
  JOB_STATUSES,
  JOB_TRANSITIONS,
  JOB_VERB_TABLE,
  JOB_VERBS,
  type JobStatus,
  type JobVerb,
  verbAllowed,
} from './job/job-status.js';
/** Job events and the sink they go to. */
export type {
  BlockJobCancelledEvent,
  BlockJobCompletedEvent,
  BlockJobErrorEvent,
  BlockJobPendingEvent,
  BlockJobProgress,
  BlockJobReadyEvent,
  JobEvent,
  JobEventSink,
  JobStatusChangeEvent,
} from './job/job-events.js';
/** The generic job. */
export { Job, type JobHost, type JobInfo, type JobOptions, type JobType } from './job/job.js';
/** Jobs on block nodes: speed, error policies, BLOCK_JOB_* events. */
export {
  BlockJob,
  type BlockJobInfo,
  type BlockJobOptions,
  type ErrorAction,
  type JobIoStatus,
  type OnErrorPolicy,
} from './job/block-job.js';
/** A group of jobs that finish together. */
export { JobTxn } from './job/job-txn.js';
/** The job registry with `query-jobs` / `query-block-jobs`. */
export { JobManager } from './job/job-manager.js';
/** The speed limit. */
export { RateLimiter, SLICE_MS } from './job/rate-limiter.js';

// ---- transactions --------------------------------------------------------------------
/** Registered undo for graph edits. */
export { inTransaction, Transaction, type TransactionStep } from './transaction/transaction.js';
/** QMP `transaction` and its actions. */
export {
  qmpTransaction,
  runTransaction,
  type TransactionAction,
  type TransactionActionSpec,
  type TransactionProperties,
} from './transaction/qmp-transaction.js';
/** `blockdev-snapshot` and overlay insertion. */
export { appendOverlay, SnapshotAction, type SnapshotOptions } from './transaction/snapshot.js';
/** `blockdev-snapshot-sync` (creates or opens the overlay image by file name) and QEMU's device-or-node lookup. */
export {
  lookupDeviceOrNode,
  SnapshotSyncAction,
  type SnapshotSyncOptions,
} from './transaction/snapshot-sync.js';

// ---- stream --------------------------------------------------------------------------
/** The copy-on-read filter the stream job inserts. */
export { CopyOnReadFilter } from './drivers/copy-on-read-filter.js';
/** The stream job and the `block-stream` command. */
export { STREAM_CHUNK, StreamJob, type StreamJobOptions } from './job/stream-job.js';
export { type BlockStreamArgs, blockStream } from './job/block-stream.js';

// ---- copy machinery, mirror, commit, backup, create ----------------------------------
/** The copy engine shared by mirror, commit and backup, and its failure type. */
export { BlockCopy, type BlockCopyOptions, CopyFailure } from './copy/block-copy.js';
/** Allocation answers over a whole backing chain (data or zeroes), from metadata only. */
export { type ChainAllocation, chainAllocation, forEachAllocatedAbove } from './copy/chain-allocation.js';
/** The `mirror_top` filter a mirror or active commit inserts above its source. */
export { type ActiveMirrorHooks, MirrorTopFilter } from './drivers/mirror-top.js';
/** The `commit_top` filter an intermediate commit inserts above its top node. */
export { CommitTopFilter } from './drivers/commit-top.js';
/** The `copy-before-write` filter a backup inserts above its source. */
export { CopyBeforeWriteFilter, type OnCbwError } from './drivers/copy-before-write.js';
/** The mirror job (also the engine of active commit). */
export {
  MIRROR_DEFAULT_BUF_SIZE,
  MIRROR_MAX_IN_FLIGHT,
  type MirrorCopyMode,
  MirrorJob,
  type MirrorJobOptions,
  type MirrorSync,
} from './job/mirror-job.js';
/** `blockdev-mirror`, and its first half for transactions. */
export {
  type BlockdevMirrorArgs,
  blockdevMirror,
  checkGranularity,
  defaultJobId,
  isRootNode,
  prepareMirror,
} from './job/blockdev-mirror.js';
/** The intermediate commit job. */
export { COMMIT_CHUNK, CommitJob, type CommitJobOptions } from './job/commit-job.js';
/** `block-commit`: intermediate or active commit, chosen as QEMU chooses. */
export { type BlockCommitArgs, blockCommit } from './job/block-commit.js';
/** The backup job. */
export {
  BACKUP_MAX_CHUNK,
  BACKUP_MAX_WORKERS,
  BackupJob,
  type BackupJobOptions,
  type BackupSync,
  type BitmapSyncMode,
  backupClusterSize,
} from './job/backup-job.js';
/** `blockdev-backup`, and the transaction step that starts a backup. */
export { BackupStart, type BlockdevBackupArgs, blockdevBackup } from './job/blockdev-backup.js';
/** `drive-backup`: a backup onto an image it creates (or opens). */
export { type DriveBackupArgs, DriveBackupStart, driveBackup } from './job/drive-backup.js';
/** `drive-mirror`: a mirror onto an image it creates (or opens), closed with the job. */
export { type DriveMirrorArgs, driveMirror } from './job/drive-mirror.js';
/** Creating or opening a job's target image by file name as an implicit node. */
export { type ImageTargetOptions, openImageTarget } from './job/image-target.js';
/** `blockdev-create` as a job. */
export {
  BlockdevCreateJob,
  type BlockdevCreateOptions,
  blockdevCreate,
  type CreateFileOptions,
  type CreateQcow2NodeOptions,
  type CreateRawOptions,
} from './job/blockdev-create-job.js';
/** `transaction` with the job-starting actions (blockdev-backup, drive-backup, Strata's blockdev-mirror). */
export { jobTransaction } from './transaction/job-transaction.js';

// ---- NBD -----------------------------------------------------------------------------
/** NBD protocol numbers (options, replies, commands, flags, magics, context names). */
export * as nbdProtocol from './nbd/constants.js';
/** Incremental byte queue and frame writer used by the NBD codec. */
export { ByteReader, FrameWriter } from './nbd/byte-reader.js';
/** NBD handshake codec: greeting, options, option replies (no sockets). */
export {
  decodeExportInfoRequest,
  decodeMetaContextRequest,
  encodeClientFlags,
  encodeExportInfoRequest,
  encodeExportNameReply,
  encodeGreeting,
  encodeMetaContextRequest,
  encodeOption,
  encodeOptionReply,
  type ExportInfoRequest,
  type MetaContextRequest,
  type NbdOption,
  type NbdOptionReply,
  tryReadClientFlags,
  tryReadExportNameReply,
  tryReadGreeting,
  tryReadOption,
  tryReadOptionReply,
} from './nbd/handshake-codec.js';
/** NBD transmission codec: requests, simple replies, structured reply chunks (no sockets). */
export {
  encodeBlockStatusChunk,
  encodeChunk,
  encodeDataChunk,
  encodeErrorChunk,
  encodeHoleChunk,
  encodeRequest,
  encodeSimpleReply,
  type NbdExtent,
  type NbdReplyChunk,
  type NbdRequest,
  type NbdSimpleReply,
  tryReadReply,
  tryReadRequest,
} from './nbd/transmission-codec.js';
/** NBD exports of block nodes, with their metadata contexts. */
export {
  type BlockExportInfo,
  type MetaContext,
  NbdExport,
  type NbdExportBitmap,
  type NbdExportOptions,
} from './nbd/export.js';
/** The NBD server: export registry and client handling, for nbd-server-start / block-export-add. */
export {
  DEFAULT_MAX_CONNECTIONS,
  type ExportRemoveMode,
  HANDSHAKE_TIMEOUT_MS,
  NbdServer,
  type NbdServerOptions,
} from './nbd/server.js';
/** Unix and TCP listeners for the NBD server. */
export { listenNbd, type NbdListenAddress, type NbdListener } from './nbd/transport.js';
/** The NBD client used by the `nbd` driver. */
export { NbdClient, type NbdClientOptions } from './nbd/client.js';
/** The `nbd` driver node. */
export { addNbdNode, NbdNode, type NbdNodeOptions } from './drivers/nbd-node.js';
/** Server address of `blockdev-add` driver `nbd`. */
export type { NbdServerAddress } from './graph/blockdev-add.js';
