import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import type { BackupJob } from './backup-job.js';
import { BackupStart, type BlockdevBackupArgs, runAlone } from './blockdev-backup.js';
import { openImageTarget } from './image-target.js';
import type { JobManager } from './job-manager.js';
import type { JobTxn } from './job-txn.js';

/** Arguments of `drive-backup`: the target is a file name Strata creates (or opens). */
export interface DriveBackupArgs extends Omit<BlockdevBackupArgs, 'target'> {
  target: string;
  /** `qcow2` or `raw`; defaults to the source's format. Never probed. */
  format?: 'qcow2' | 'raw';
  /** `absolute-paths` (default) creates the image; `existing` opens it. */
  mode?: 'absolute-paths' | 'existing';
}

/**
 * `drive-backup` as a transaction step: prepare creates the target image (with the
 * source's backing chain as its backing for sync `top` and the source itself for `none`,
 * as QEMU does), opens it as an implicit node and prepares a backup onto it; abort
 * cancels the job and closes the image again. The node is closed when the job ends.
 */
export class DriveBackupStart {
  private target: BlockNode | null = null;
  private backup: BackupStart | null = null;

  constructor(
    private readonly graph: BlockGraph,
    private readonly jobs: JobManager,
    private readonly args: DriveBackupArgs,
    private readonly txn?: JobTxn,
  ) {}

  get job(): BackupJob | null {
    return this.backup?.job ?? null;
  }

  async prepare(): Promise<void> {
    const graph = this.graph;
    const args = this.args;
    const source = graph.require(args.device);
    const format = args.format ?? (source.driver === 'raw' ? 'raw' : 'qcow2');
    if (format !== 'qcow2' && format !== 'raw') {
      throw new BlockError('invalid-argument', `Unknown driver '${String(format)}'`);
    }
    const mode = args.mode ?? 'absolute-paths';
    const sync = args.sync === 'top' && !source.backing ? 'full' : args.sync;
    const backing = sync === 'none' ? source : sync === 'top' ? source.backing : null;
    this.target = await openImageTarget(graph, {
      path: args.target,
      format,
      mode,
      size: source.length,
      backing,
    });
    const backupArgs: BlockdevBackupArgs = { ...args, target: this.target.name };
    delete (backupArgs as { format?: unknown }).format;
    delete (backupArgs as { mode?: unknown }).mode;
    this.backup = new BackupStart(graph, this.jobs, backupArgs, this.txn);
    await this.backup.prepare();
  }

  commit(): void {
    this.backup?.commit();
    const job = this.backup?.job;
    const target = this.target;
    if (job && target) {
      // The job holds the only reference: the image closes when the job is gone.
      void job.until((j) => j.status === 'null').then(() => this.graph.dropIfUnused(target));
    }
  }

  async abort(): Promise<void> {
    await this.backup?.abort();
    const target = this.target;
    this.target = null;
    if (target) await this.graph.dropIfUnused(target);
  }

  clean(): void {
    this.backup?.clean();
  }
}

/** `drive-backup`: a one-action transaction, as QEMU runs it. */
export async function driveBackup(
  graph: BlockGraph,
  jobs: JobManager,
  args: DriveBackupArgs,
): Promise<BackupJob> {
  return runAlone(new DriveBackupStart(graph, jobs, args));
}
