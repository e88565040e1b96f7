import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import { BackupStart, type BlockdevBackupArgs } from '../job/blockdev-backup.js';
import { type BlockdevMirrorArgs, prepareMirror } from '../job/blockdev-mirror.js';
import { type DriveBackupArgs, DriveBackupStart } from '../job/drive-backup.js';
import type { JobManager } from '../job/job-manager.js';
import { JobTxn } from '../job/job-txn.js';
import type { MirrorJob } from '../job/mirror-job.js';
import { requireObject, requireString } from '../qapi-args.js';
import {
  builtinAction,
  checkBuiltinAction,
  runTransaction,
  type TransactionAction,
  type TransactionProperties,
} from './qmp-transaction.js';

/** The job-starting actions, with their mandatory members. */
const JOB_ACTIONS: Record<string, readonly string[]> = {
  'blockdev-backup': ['device', 'target', 'sync'],
  'drive-backup': ['device', 'target', 'sync'],
  // Strata's extension: QEMU has no mirror action.
  'blockdev-mirror': ['device', 'target', 'sync'],
};

/** A mirror started in the steps of a transaction: created in prepare, started in commit. */
class MirrorStart implements TransactionAction {
  private job: MirrorJob | null = null;

  constructor(
    private readonly graph: BlockGraph,
    private readonly jobs: JobManager,
    private readonly args: BlockdevMirrorArgs,
    private readonly txn: JobTxn | undefined,
  ) {}

  async prepare(): Promise<void> {
    this.job = await prepareMirror(this.graph, this.jobs, this.args, this.txn);
  }

  commit(): void {
    this.job?.start();
  }

  async abort(): Promise<void> {
    const job = this.job;
    this.job = null;
    if (job && !job.isCompleted) await job.cancel(true);
  }
}

/**
 * QMP `transaction` with the actions that start jobs: `blockdev-backup` and `drive-backup`
 * (as QEMU) and,
 * beyond QEMU, `blockdev-mirror`, so that "snapshot onto a new overlay and mirror that
 * overlay" happens all-or-nothing. Every action is checked before anything runs; then all
 * are prepared in order (jobs are created and their filters inserted, but not started),
 * and either all commit (jobs start) or all abort in reverse (jobs are force-cancelled,
 * filters removed, bitmaps released), leaving the graph, files and bitmaps as before.
 * With `completion-mode: grouped`, the jobs finish together (one failure cancels all);
 * only job actions accept it.
 */
export async function jobTransaction(
  graph: BlockGraph,
  jobs: JobManager,
  specs: readonly { type: string; data?: unknown }[],
  properties: TransactionProperties = {},
): Promise<void> {
  for (const raw of specs) {
    const spec = requireObject(raw, 'actions');
    const type = requireString(spec, 'type');
    const required = JOB_ACTIONS[type];
    if (!required) {
      checkBuiltinAction(raw);
      continue;
    }
    const data = requireObject(spec['data'], 'data');
    for (const key of required) requireString(data, key);
  }
  const grouped = properties['completion-mode'] === 'grouped';
  const txn = grouped ? new JobTxn() : undefined;
  const actions = specs.map((spec): TransactionAction => {
    switch (spec.type) {
      case 'blockdev-backup':
        return new BackupStart(graph, jobs, spec.data as BlockdevBackupArgs, txn);
      case 'drive-backup':
        return new DriveBackupStart(graph, jobs, spec.data as DriveBackupArgs, txn);
      case 'blockdev-mirror':
        return new MirrorStart(graph, jobs, spec.data as BlockdevMirrorArgs, txn);
      default:
        return builtinAction(graph, spec, grouped);
    }
  });
  try {
    await runTransaction(actions);
  } catch (error) {
    throw error instanceof BlockError ? error : new BlockError('invalid-argument', String(error));
  }
}
