import type { Job } from './job.js';

/**
 * A group of jobs that finish together (QEMU's JobTxn): none is finalized before all have
 * succeeded, and one failure or cancellation force-cancels the others. A job started on
 * its own gets a group of its own.
 */
export class JobTxn {
  readonly jobs: Job[] = [];
  /** Set once one job's failure started aborting the whole group. */
  aborting = false;

  add(job: Job): void {
    // Newest first, as QEMU links them: a failing group is finalized in that order.
    this.jobs.unshift(job);
  }

  remove(job: Job): void {
    const at = this.jobs.indexOf(job);
    if (at >= 0) this.jobs.splice(at, 1);
  }
}
