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
  type JobManager,
} from '@strata/block-layer';
import type { Register } from './monitor.js';

/**
 * The commands that start copy jobs: `block-commit`, `blockdev-mirror`, `blockdev-backup`
 * and `blockdev-create`. Arguments arrive checked against the schema, under QAPI's names,
 * which are the block layer's names too.
 */
export function registerCopyJobCommands(on: Register, graph: BlockGraph, jobs: JobManager): void {
  on('block-commit', async (args) => {
    await blockCommit(graph, jobs, args as unknown as BlockCommitArgs);
  });
  on('blockdev-mirror', async (args) => {
    await blockdevMirror(graph, jobs, args as unknown as BlockdevMirrorArgs);
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
