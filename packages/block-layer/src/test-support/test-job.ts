import { BlockJob, type BlockJobOptions, type OnErrorPolicy } from '../job/block-job.js';
import type { JobType } from '../job/job.js';

/** Behaviour knobs of {@link TestJob}. */
export interface TestJobOptions extends BlockJobOptions {
  type?: JobType;
  /** Units of work; each adds one to the progress. */
  steps?: number;
  /** Wait for a {@link TestJob.kick} before each step (otherwise steps just yield). */
  hold?: boolean;
  /** After the steps, go ready and wait for complete or a soft cancel (mirror-style). */
  readyPhase?: boolean;
  /** Throw at this step (1-based). */
  failAt?: number;
  /** An I/O error at this step, handled by this policy. */
  ioError?: { at: number; policy: OnErrorPolicy; read?: boolean; nospace?: boolean };
  /** Make prepare throw this message. */
  prepareError?: string;
}

/**
 * A job for testing the state machine: counts steps, optionally waits for a kick between
 * them, optionally has a ready phase, fails on request, and logs its finish hooks.
 */
export class TestJob extends BlockJob {
  readonly type: JobType;
  readonly log: string[] = [];
  private shouldComplete = false;
  private readonly options: TestJobOptions;
  protected override readonly supportsComplete: boolean;

  constructor(options: TestJobOptions) {
    super(options);
    this.options = options;
    this.type = options.type ?? (options.readyPhase ? 'mirror' : 'stream');
    this.supportsComplete = options.readyPhase ?? false;
    this.progressTotal = options.steps ?? 3;
  }

  /** Lets a held job do one step. */
  kick(): void {
    this.enter();
  }

  protected async run(): Promise<void> {
    const steps = this.options.steps ?? 3;
    let step = 0;
    while (step < steps) {
      if (this.isCancelled || (this.cancelRequested && !this.isReady)) return;
      if (this.options.hold) await this.yield();
      else await this.sleep(0);
      if (this.isCancelled) return;
      step++;
      if (step === this.options.failAt) throw new Error(`step ${step} failed`);
      const io = this.options.ioError;
      if (io && step === io.at) {
        const error = Object.assign(new Error('Input/output error'), io.nospace ? { code: 'ENOSPC' } : {});
        const action = this.errorAction(io.policy, io.read ?? false, error);
        if (action === 'report') throw error;
        if (action === 'stop') {
          step--;
          io.at = -1;
          continue;
        }
      }
      this.progressCurrent++;
      await this.throttle(1);
    }
    if (!this.options.readyPhase) return;
    this.transitionToReady();
    while (!this.shouldComplete && !this.cancelRequested) await this.yield();
  }

  protected override onComplete(): void {
    this.shouldComplete = true;
    this.enter();
  }

  protected override onCancel(force: boolean): boolean {
    // Mirror semantics: only a soft cancel of a ready job means "finish without pivot".
    return this.options.readyPhase ? force || !this.isReady : true;
  }

  protected override async prepare(): Promise<void> {
    this.log.push('prepare');
    if (this.options.prepareError) throw new Error(this.options.prepareError);
  }

  protected override async commit(): Promise<void> {
    this.log.push('commit');
  }

  protected override async abort(): Promise<void> {
    this.log.push('abort');
  }

  protected override async clean(): Promise<void> {
    this.log.push('clean');
  }
}
