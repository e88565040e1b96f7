import {
  type BlockCommitArgs,
  type BlockdevBackupArgs,
  type BlockdevCreateOptions,
  type BlockdevMirrorArgs,
  type BlockGraph,
  blockCommit,
  blockdevBackup,
  blockdevCreate,
  blockdevMirror,
  type DriveBackupArgs,
  type DriveMirrorArgs,
  driveBackup,
  driveMirror,
  type JobManager,
} from '@strata/block-layer';
import type { Register } from './monitor.js';

/**
 * The commands that start copy jobs: `block-commit`, `blockdev-mirror`, `drive-mirror`,
 * `blockdev-backup`, `drive-backup` and `blockdev-create`. The `drive-*` forms name their
 * target by file name and open or create it as an implicit node the job drops at its end. Arguments arrive checked against the schema, under QAPI's names,
 * which are the block layer's names too.
 */
export function registerCopyJobCommands(on: Register, graph: BlockGraph, jobs: JobManager): void {
  on('block-commit', async (args) => {
    await blockCommit(graph, jobs, args as unknown as BlockCommitArgs);
  });
  on('blockdev-mirror', async (args) => {
    await blockdevMirror(graph, jobs, args as unknown as BlockdevMirrorArgs);
  });
  on('drive-mirror', async (args) => {
    await driveMirror(graph, jobs, args as unknown as DriveMirrorArgs);
  });
  on('drive-backup', async (args) => {
    await driveBackup(graph, jobs, args as unknown as DriveBackupArgs);
  });
  on('blockdev-backup', async (args) => {
    await blockdevBackup(graph, jobs, args as unknown as BlockdevBackupArgs);
  });
  on('blockdev-create', (args) => {
    blockdevCreate(graph, jobs, {
      'job-id': String(args['job-id']),
      options: args['options'] as unknown as BlockdevCreateOptions,
    });
  });
}
