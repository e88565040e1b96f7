import { Job, type JobType } from '../job/job.js';

/** A non-block job (like `blockdev-create`): one unit of work, no BLOCK_JOB_* events. */
export class CreateJob extends Job {
  readonly type: JobType = 'create';

  protected async run(): Promise<void> {
    this.progressTotal = 1;
    await this.sleep(0);
    this.progressCurrent = 1;
  }
}
