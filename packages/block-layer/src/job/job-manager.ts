import { BlockError } from '../errors.js';
import { isWellFormedId } from '../graph/node-name.js';
import { BlockJob, type BlockJobInfo } from './block-job.js';
import type { JobEvent, JobEventSink } from './job-events.js';
import type { Job, JobHost, JobInfo } from './job.js';

/**
 * The registry of jobs (QEMU's job list): checks ids, hands jobs an event sink, answers
 * `query-jobs` and `query-block-jobs` (newest first), and looks jobs up with the errors of
 * the two QMP command families (`job-*` and `block-job-*`).
 */
export class JobManager implements JobHost {
  private readonly list: Job[] = [];
  private readonly sinks = new Set<JobEventSink>();

  constructor(sink?: JobEventSink) {
    if (sink) this.sinks.add(sink);
  }

  /** Adds an event listener; returns its remover. */
  subscribe(sink: JobEventSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  emit(event: JobEvent): void {
    for (const sink of this.sinks) sink(event);
  }

  /** Every job, newest first. */
  get jobs(): readonly Job[] {
    return this.list;
  }

  /** Checks a job id the way QEMU's job_create does. */
  checkId(id: string | null): void {
    if (id === null) return;
    if (!isWellFormedId(id)) throw new BlockError('invalid-argument', `Invalid job ID '${id}'`);
    if (this.find(id)) throw new BlockError('exists', `Job ID '${id}' already in use`);
  }

  /** Registers a job (status `created`, with its event). */
  create<T extends Job>(job: T): T {
    this.checkId(job.id);
    this.list.unshift(job);
    job.attach(this);
    return job;
  }

  remove(job: Job): void {
    const at = this.list.indexOf(job);
    if (at >= 0) this.list.splice(at, 1);
  }

  find(id: string): Job | undefined {
    return this.list.find((job) => job.id === id);
  }

  /** Lookup for `job-*` commands. */
  get(id: string): Job {
    const job = this.find(id);
    if (!job) throw new BlockError('not-found', 'Job not found');
    return job;
  }

  /** Lookup for `block-job-*` commands (class DeviceNotActive). */
  getBlockJob(device: string): BlockJob {
    const job = this.find(device);
    if (!(job instanceof BlockJob)) {
      throw new BlockError('not-found', `Block job '${device}' not found`, { qmpClass: 'DeviceNotActive' });
    }
    return job;
  }

  /** `block-job-cancel`: a soft cancel is refused while the user has the job paused. */
  async blockJobCancel(device: string, force = false): Promise<void> {
    const job = this.getBlockJob(device);
    if (job.userPaused && !force) {
      throw new BlockError('invalid-argument', `The block job for device '${device}' is currently paused`);
    }
    await job.userCancel(force);
  }

  /** `job-cancel`: always forced. */
  async jobCancel(id: string): Promise<void> {
    await this.get(id).userCancel(true);
  }

  queryJobs(): JobInfo[] {
    return this.list.filter((job) => !job.internal).map((job) => job.info());
  }

  queryBlockJobs(): BlockJobInfo[] {
    return this.list
      .filter((job): job is BlockJob => job instanceof BlockJob && !job.internal)
      .map((job) => job.blockInfo());
  }
}
