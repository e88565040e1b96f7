import type { BlockGraph, JobManager } from '@strata/block-layer';

/**
 * Shuts the block layer down the way qemu-storage-daemon does on `quit` or SIGTERM: every
 * job is force-cancelled and waited for, concluded jobs are dismissed, then every node is
 * closed parents first, which writes persistent bitmaps back and leaves images clean.
 */
export async function shutdownBlockLayer(graph: BlockGraph, jobs: JobManager): Promise<void> {
  for (const job of [...jobs.jobs]) {
    if (job.status !== 'concluded' && job.status !== 'null') await job.cancel(true).catch(() => undefined);
  }
  for (const job of [...jobs.jobs]) {
    await job.until((j) => j.status === 'concluded' || j.status === 'null');
    if (job.status === 'concluded') await job.cancel(true).catch(() => undefined);
  }
  await graph.closeAll();
}
