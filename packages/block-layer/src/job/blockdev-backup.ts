import type { BdrvDirtyBitmap } from '../bitmap/dirty-bitmap.js';
import { CHECK_DEFAULT } from '../bitmap/dirty-bitmap.js';
import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import { type DrainedSection, drain } from '../io/drain.js';
import { BackupJob, type BackupJobOptions, type BackupSync, type BitmapSyncMode } from './backup-job.js';
import type { OnErrorPolicy } from './block-job.js';
import { defaultJobId } from './blockdev-mirror.js';
import type { JobManager } from './job-manager.js';
import type { JobTxn } from './job-txn.js';
import { applySpeedCheck, initialSpeed } from './speed.js';

/** Arguments of `blockdev-backup` (QAPI names). */
export interface BlockdevBackupArgs {
  'job-id'?: string;
  device: string;
  target: string;
  sync: BackupSync;
  speed?: number;
  bitmap?: string;
  'bitmap-mode'?: BitmapSyncMode;
  compress?: boolean;
  'on-source-error'?: OnErrorPolicy;
  'on-target-error'?: OnErrorPolicy;
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
  'filter-node-name'?: string;
}

/** Checks the bitmap arguments with QEMU's messages, in QEMU's order; returns the bitmap. */
function checkBitmapArgs(
  graph: BlockGraph,
  args: BlockdevBackupArgs,
  node: string,
): BdrvDirtyBitmap | undefined {
  const { sync } = args;
  let mode = args['bitmap-mode'];
  if (sync === 'incremental' || sync === 'bitmap') {
    if (args.bitmap === undefined) {
      throw new BlockError('invalid-argument', `must provide a valid bitmap name for '${sync}' sync mode`);
    }
  }
  if (sync === 'incremental') {
    if (mode !== undefined && mode !== 'on-success') {
      throw new BlockError(
        'invalid-argument',
        "Bitmap sync mode must be 'on-success' when using sync mode 'incremental'",
      );
    }
    mode = 'on-success';
  }
  if (args.bitmap === undefined) {
    if (mode !== undefined) {
      throw new BlockError('invalid-argument', 'Cannot specify bitmap sync mode without a bitmap');
    }
    return undefined;
  }
  const node0 = graph.require(node);
  const bitmap = node0.bitmaps.find((b) => b.name === args.bitmap);
  if (!bitmap) throw new BlockError('not-found', `Bitmap '${args.bitmap}' could not be found`);
  if (mode === undefined) {
    throw new BlockError('invalid-argument', 'Bitmap sync mode must be given when providing a bitmap');
  }
  if (sync === 'none') {
    throw new BlockError('invalid-argument', "sync mode 'none' does not produce meaningful bitmap outputs");
  }
  if (mode === 'never' && sync !== 'bitmap') {
    throw new BlockError(
      'invalid-argument',
      `Bitmap sync mode 'never' has no meaningful effect when combined with sync mode '${sync}'`,
    );
  }
  bitmap.check(CHECK_DEFAULT);
  return bitmap;
}

/**
 * A backup being started in the steps of a transaction (QEMU's blockdev-backup action):
 * prepare drains the source and creates the job with its filter (status `created`),
 * commit starts it, abort force-cancels it, clean ends the drained section.
 */
export class BackupStart {
  job: BackupJob | null = null;
  private section: DrainedSection | null = null;

  constructor(
    private readonly graph: BlockGraph,
    private readonly jobs: JobManager,
    private readonly args: BlockdevBackupArgs,
    private readonly txn?: JobTxn,
  ) {}

  async prepare(): Promise<void> {
    const graph = this.graph;
    const args = this.args;
    const source = graph.require(args.device);
    const target = graph.require(args.target);
    if (source === target) throw new BlockError('invalid-argument', 'Source and target cannot be the same');
    const known = ['full', 'top', 'none', 'incremental', 'bitmap'];
    if (!known.includes(args.sync)) {
      throw new BlockError(
        'invalid-argument',
        `Parameter 'sync' does not accept value '${String(args.sync)}'`,
      );
    }
    if (args.compress) {
      throw new BlockError('invalid-argument', 'Compression is not supported for this drive');
    }
    this.section = await drain(graph, [source]);
    const bitmap = checkBitmapArgs(graph, args, args.device);
    for (const node of [source, target]) {
      for (const [owner, reason] of node.blockers) {
        if ((owner as { role?: unknown }).role === 'backing') continue;
        throw new BlockError('busy', `Node '${node.name}' is busy: ${reason}`);
      }
    }
    const id = args['job-id'] ?? defaultJobId(source);
    this.jobs.checkId(id);
    const options: BackupJobOptions = {
      graph,
      id,
      source,
      target,
      sync: args.sync,
      speed: initialSpeed(args.speed),
      onSourceError: args['on-source-error'] ?? 'report',
      onTargetError: args['on-target-error'] ?? 'report',
      autoFinalize: args['auto-finalize'] ?? true,
      autoDismiss: args['auto-dismiss'] ?? true,
    };
    if (bitmap) options.bitmap = bitmap;
    const mode = args['bitmap-mode'] ?? (args.sync === 'incremental' ? 'on-success' : undefined);
    if (mode) options.bitmapMode = mode;
    if (args['filter-node-name'] !== undefined) options.filterNodeName = args['filter-node-name'];
    if (this.txn) options.txn = this.txn;
    const job = this.jobs.create(new BackupJob(options));
    try {
      applySpeedCheck(args.speed);
      await job.setUp();
    } catch (error) {
      // As QEMU's backup_job_create: the job ends here (created → null); abort finds no job.
      await job.earlyFail();
      throw error;
    }
    this.job = job;
    // Attached inside a drained section: the job starts paused until the section ends.
    job.pause();
  }

  commit(): void {
    this.job?.start();
  }

  async abort(): Promise<void> {
    const job = this.job;
    this.job = null;
    if (job && !job.isCompleted) await job.cancel(true);
  }

  clean(): void {
    this.section?.end();
    this.section = null;
    this.job?.resume();
  }
}

/**
 * `blockdev-backup`: runs as a transaction of one action, as in QEMU (so the job shows
 * `running`, `paused`, `running` while the source's drained section ends).
 */
export async function blockdevBackup(
  graph: BlockGraph,
  jobs: JobManager,
  args: BlockdevBackupArgs,
): Promise<BackupJob> {
  return runAlone(new BackupStart(graph, jobs, args));
}

/** The steps of a backup start, as a transaction action registers them. */
interface BackupStartSteps {
  readonly job: BackupJob | null;
  prepare(): Promise<void>;
  commit(): void;
  abort(): Promise<void>;
  clean(): void;
}

/** Runs one backup start as a transaction of its own: prepare, then commit or abort, clean last. */
export async function runAlone(start: BackupStartSteps): Promise<BackupJob> {
  try {
    await start.prepare();
  } catch (error) {
    await start.abort();
    start.clean();
    throw error;
  }
  start.commit();
  const job = start.job!;
  start.clean();
  return job;
}
