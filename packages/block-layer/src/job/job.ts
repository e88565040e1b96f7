import { BlockError } from '../errors.js';
import type { JobEvent } from './job-events.js';
import { JobTxn } from './job-txn.js';
import { canTransition, isCompletedStatus, type JobStatus, type JobVerb, verbAllowed } from './job-status.js';
import { LongTimer } from './long-timer.js';

/** Job types as QMP names them. */
export type JobType =
  | 'commit'
  | 'stream'
  | 'mirror'
  | 'backup'
  | 'create'
  | 'amend'
  | 'snapshot-load'
  | 'snapshot-save'
  | 'snapshot-delete';

/** What a job needs from its registry: a place to send events and to leave when dismissed. */
export interface JobHost {
  emit(event: JobEvent): void;
  remove(job: Job): void;
}

/** Options common to every job. */
export interface JobOptions {
  /** The job id; null makes an internal job (no events, not listed). */
  id: string | null;
  autoFinalize?: boolean;
  autoDismiss?: boolean;
  /** The group this job finishes with; by default a group of its own. */
  txn?: JobTxn;
}

/** `query-jobs` entry. */
export interface JobInfo {
  id: string;
  type: JobType;
  status: JobStatus;
  'current-progress': number;
  'total-progress': number;
  error?: string;
}

/** Message QEMU uses for a job that ends because it was cancelled. */
const CANCELLED_TEXT = 'Operation canceled';

/**
 * QEMU's generic job: the state machine, pause accounting (`pauseCount` counts internal
 * and user pauses, `userPaused` the user's one), cancellation (soft and forced), and the
 * finish sequence across its group (waiting → pending → prepare → commit|abort → clean →
 * concluded → null). Subclasses implement {@link run} and may override the hooks.
 *
 * `run` is the job's body: it should call {@link pausePoint} (or {@link sleep}) often and
 * return when {@link cancelRequested}; it throws to fail the job.
 */
export abstract class Job {
  abstract readonly type: JobType;
  readonly id: string | null;
  status: JobStatus = 'undefined';
  /** Pauses in force: user pause, drained sections, and the one held until start. */
  pauseCount = 1;
  userPaused = false;
  /** The body is running (not sleeping, yielding or paused). */
  busy = false;
  /** Stopped at a pause point. */
  paused = false;
  /** A cancel was requested; with {@link forceCancel}, the job is really being cancelled. */
  cancelled = false;
  forceCancel = false;
  /** The body has returned; the rest happens in the finish sequence. */
  deferredToMainLoop = false;
  started = false;
  /** The error that failed the job (null: none). */
  error: string | null = null;
  autoFinalize: boolean;
  autoDismiss: boolean;
  progressCurrent = 0;
  progressTotal = 0;
  txn: JobTxn;

  private wake: (() => void) | null = null;
  /**
   * Someone entered the job while its body was busy. In QEMU that cannot happen (the
   * body runs until it yields); here the body runs between awaits, so the wake-up is kept
   * and the next yield returns at once instead of missing it.
   */
  private enterPending = false;
  private timer: LongTimer | null = null;
  private host: JobHost | null = null;
  private readonly statusWaiters: Array<() => void> = [];

  constructor(options: JobOptions) {
    this.id = options.id;
    this.autoFinalize = options.autoFinalize ?? true;
    this.autoDismiss = options.autoDismiss ?? true;
    this.txn = options.txn ?? new JobTxn();
    this.txn.add(this);
  }

  /** The job's work. Throw to fail; return early when {@link cancelRequested}. */
  protected abstract run(): Promise<void>;

  /** First finish pass (graph changes happen here); throwing aborts the whole group. */
  protected async prepare(): Promise<void> {}
  /** After every job of the group prepared successfully. */
  protected async commit(): Promise<void> {}
  /** When the job (or its group) failed or was cancelled. */
  protected async abort(): Promise<void> {}
  /** After commit or abort, always. */
  protected async clean(): Promise<void> {}
  /** Whether the job type supports `complete` (mirror-style jobs do). */
  protected readonly supportsComplete: boolean = false;
  /** Handles `complete` (only called when {@link supportsComplete}). */
  protected onComplete(): void {}
  /**
   * Decides whether a cancel is forced. Jobs without a soft-cancel meaning always force
   * (the default); mirror treats a soft cancel while ready as "finish without pivot".
   */
  protected onCancel(_force: boolean): boolean {
    return true;
  }
  /** The user resumed the job (block jobs clear their I/O status here). */
  protected onUserResume(): void {}
  /** Events specific to the end of the job (block jobs send BLOCK_JOB_*). */
  protected onFinalized(_cancelled: boolean): void {}
  /** Releases what the job holds (nodes, permissions), whether or not it ever started. */
  protected async releaseResources(): Promise<void> {}
  /** Sent when the job moves to pending with auto-finalize off. */
  protected onPending(): void {}

  // ---- registry ---------------------------------------------------------------------

  /** Called by the registry when the job is created: emits `created`. */
  attach(host: JobHost): void {
    this.host = host;
    this.transition('created');
  }

  protected emit(event: JobEvent): void {
    if (this.id !== null) this.host?.emit(event);
  }

  get internal(): boolean {
    return this.id === null;
  }

  /** The cancel is a real (forced) one. */
  get isCancelled(): boolean {
    return this.cancelled && this.forceCancel;
  }

  /** Any cancel was requested (the body should wind down). */
  get cancelRequested(): boolean {
    return this.cancelled;
  }

  get isCompleted(): boolean {
    return isCompletedStatus(this.status);
  }

  get isReady(): boolean {
    return this.status === 'ready' || this.status === 'standby';
  }

  // ---- status ----------------------------------------------------------------------

  protected transition(to: JobStatus): void {
    const from = this.status;
    if (!canTransition(from, to)) {
      throw new Error(`Job '${this.id ?? ''}': illegal transition ${from} -> ${to}`);
    }
    this.status = to;
    if (from !== to && this.id !== null) {
      this.emit({ event: 'JOB_STATUS_CHANGE', data: { id: this.id, status: to } });
    }
    for (const wake of this.statusWaiters.splice(0)) wake();
  }

  /** Throws QEMU's refusal when `verb` is not accepted in the current status. */
  checkVerb(verb: JobVerb): void {
    if (!verbAllowed(verb, this.status)) {
      throw new BlockError(
        'job-verb',
        `Job '${this.id ?? ''}' in state '${this.status}' cannot accept command verb '${verb}'`,
      );
    }
  }

  /** Resolves at the next status change satisfying `predicate` (at once if it already holds). */
  async until(predicate: (job: Job) => boolean): Promise<void> {
    while (!predicate(this)) await new Promise<void>((resolve) => this.statusWaiters.push(resolve));
  }

  // ---- running ---------------------------------------------------------------------

  /** Starts the body (status `running`). The body runs synchronously up to its first wait. */
  start(): void {
    if (this.status !== 'created' || this.started) throw new Error('Job already started');
    this.started = true;
    this.pauseCount--;
    this.busy = true;
    this.paused = false;
    this.transition('running');
    void this.entry();
  }

  private async entry(): Promise<void> {
    try {
      await this.pausePoint();
      await this.run();
    } catch (error) {
      this.error = error instanceof Error ? error.message : String(error);
    }
    this.deferredToMainLoop = true;
    this.busy = true;
    // The rest runs from the main loop, after whatever the body's last step was part of.
    setImmediate(() => void this.completed());
  }

  /**
   * Stops here while paused (status `paused`, or `standby` when ready) until resumed or
   * force-cancelled. Jobs call it between units of work.
   */
  async pausePoint(): Promise<void> {
    if (this.pauseCount === 0 || this.isCancelled) return;
    const status = this.status;
    this.transition(status === 'ready' ? 'standby' : 'paused');
    this.paused = true;
    await this.yieldUntilEntered(-1);
    this.paused = false;
    this.transition(status);
  }

  /** Sleeps `ms` (woken early by pause, cancel or a speed change), then passes a pause point. */
  async sleep(ms: number): Promise<void> {
    if (!this.isCancelled) await this.yieldUntilEntered(ms);
    await this.pausePoint();
  }

  /** Waits until something enters the job (complete, cancel, resume), then passes a pause point. */
  async yield(): Promise<void> {
    if (!this.isCancelled) await this.yieldUntilEntered(-1);
    await this.pausePoint();
  }

  private yieldUntilEntered(ms: number): Promise<void> {
    if (this.enterPending) {
      this.enterPending = false;
      return Promise.resolve();
    }
    this.busy = false;
    return new Promise<void>((resolve) => {
      this.wake = () => {
        this.wake = null;
        this.timer?.cancel();
        this.timer = null;
        this.busy = true;
        resolve();
      };
      if (ms >= 0) this.timer = new LongTimer(() => this.wake?.(), ms);
    });
  }

  /** Wakes the body if it waits (QEMU's job_enter); `onlyTimer` wakes only a sleeping body. */
  enter(onlyTimer = false): void {
    if (!this.started || this.deferredToMainLoop) return;
    if (this.busy || !this.wake) {
      if (!onlyTimer) this.enterPending = true;
      return;
    }
    if (onlyTimer && !this.timer) return;
    this.enterPending = false;
    this.wake();
  }

  /** Adds an internal pause (drained sections, transactions). */
  pause(): void {
    this.pauseCount++;
    if (!this.paused) this.enter();
  }

  /** Removes an internal pause; the job continues when none is left. */
  resume(): void {
    if (this.pauseCount === 0) return;
    this.pauseCount--;
    if (this.pauseCount > 0) return;
    if (!this.timer) this.enter();
  }

  // ---- user verbs ------------------------------------------------------------------

  userPause(): void {
    this.checkVerb('pause');
    if (this.userPaused) throw new BlockError('invalid-argument', 'Job is already paused');
    this.userPaused = true;
    this.pause();
  }

  userResume(): void {
    if (!this.userPaused || this.pauseCount <= 0) {
      throw new BlockError('invalid-argument', "Can't resume a job that was not paused");
    }
    this.checkVerb('resume');
    this.onUserResume();
    this.userPaused = false;
    this.resume();
  }

  /** `job-complete` / `block-job-complete`. */
  complete(): void {
    this.checkVerb('complete');
    if (this.cancelRequested || !this.supportsComplete) {
      throw new BlockError('invalid-argument', `The active block job '${this.id ?? ''}' cannot be completed`);
    }
    this.onComplete();
  }

  /** `job-cancel` (always forced) / `block-job-cancel` (`force` defaults to false). */
  async userCancel(force: boolean): Promise<void> {
    this.checkVerb('cancel');
    await this.cancel(force);
  }

  /** `job-finalize`: finalizes the whole group. */
  async finalize(): Promise<void> {
    this.checkVerb('finalize');
    await this.doFinalize();
  }

  /** `job-dismiss`: forgets a concluded job. */
  dismiss(): void {
    this.checkVerb('dismiss');
    this.doDismiss();
  }

  /**
   * Ends a job whose start failed after it was created (QEMU's job_early_fail, used for a
   * refused speed or a set-up error): its undo hooks run and the only event left is
   * `created → null`. A job that already started is cancelled instead.
   */
  async earlyFail(): Promise<void> {
    if (this.started || this.status !== 'created') {
      await this.cancel(true);
      return;
    }
    this.cancelled = true;
    this.forceCancel = true;
    try {
      await this.abort();
    } finally {
      await this.clean();
    }
    await this.releaseResources();
    this.doDismiss();
  }

  /** Cancels (QEMU's job_cancel): also used internally when a group aborts. */
  async cancel(force: boolean): Promise<void> {
    if (this.status === 'concluded') {
      this.doDismiss();
      return;
    }
    this.cancelAsync(force);
    if (!this.started) await this.completed();
    else if (this.deferredToMainLoop) {
      if (this.isCancelled) await this.txnAbort();
    } else this.enter();
  }

  private cancelAsync(force: boolean): void {
    const forced = this.onCancel(force);
    if (this.userPaused) {
      this.onUserResume();
      this.userPaused = false;
      this.pauseCount--;
    }
    // A soft cancel after the body returned changes nothing; a forced one still aborts.
    if (!this.deferredToMainLoop || forced) {
      this.cancelled = true;
      this.forceCancel ||= forced;
    }
  }

  // ---- finishing -------------------------------------------------------------------

  /** Records the outcome: a forced cancel becomes an error, and any error means `aborting`. */
  private updateResult(): boolean {
    if (this.error === null && this.isCancelled) this.error = CANCELLED_TEXT;
    if (this.error !== null) this.transition('aborting');
    return this.error !== null;
  }

  private async completed(): Promise<void> {
    if (this.isCompleted) return;
    if (this.updateResult()) await this.txnAbort();
    else await this.txnSuccess();
  }

  private async txnSuccess(): Promise<void> {
    this.transition('waiting');
    if (this.txn.jobs.some((job) => !job.isCompleted)) return;
    for (const job of [...this.txn.jobs]) {
      job.transition('pending');
      if (!job.autoFinalize) job.onPending();
    }
    if (this.txn.jobs.every((job) => job.autoFinalize)) await this.doFinalize();
  }

  private async doFinalize(): Promise<void> {
    const jobs = [...this.txn.jobs];
    let failed = false;
    for (const job of jobs) {
      if (job.error === null) {
        try {
          await job.prepare();
        } catch (error) {
          job.error = error instanceof Error ? error.message : String(error);
        }
      }
      if (job.updateResult()) {
        failed = true;
        break;
      }
    }
    if (failed) {
      await this.txnAbort();
      return;
    }
    for (const job of jobs) await job.finalizeSingle();
  }

  private async txnAbort(): Promise<void> {
    const txn = this.txn;
    if (txn.aborting) return;
    txn.aborting = true;
    for (const other of txn.jobs) if (other !== this) other.cancelAsync(true);
    while (txn.jobs.length > 0) {
      const other = txn.jobs[0]!;
      if (!other.isCompleted) {
        other.enter();
        await other.until((j) => j.isCompleted);
      }
      await other.finalizeSingle();
    }
  }

  private async finalizeSingle(): Promise<void> {
    const failed = this.updateResult();
    try {
      if (failed) await this.abort();
      else await this.commit();
    } finally {
      await this.clean();
    }
    await this.releaseResources();
    if (this.started) this.onFinalized(this.isCancelled);
    this.txn.remove(this);
    this.transition('concluded');
    if (this.autoDismiss || !this.started) this.doDismiss();
  }

  private doDismiss(): void {
    this.busy = false;
    this.paused = false;
    this.deferredToMainLoop = true;
    this.txn.remove(this);
    this.transition('null');
    this.host?.remove(this);
  }

  /** `query-jobs` entry. */
  info(): JobInfo {
    const info: JobInfo = {
      id: this.id ?? '',
      type: this.type,
      status: this.status,
      'current-progress': this.progressCurrent,
      'total-progress': this.progressTotal,
    };
    if (this.error !== null) info.error = this.error;
    return info;
  }
}
