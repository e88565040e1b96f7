import type { JobStatus } from './job-status.js';

/** `JOB_STATUS_CHANGE`: sent on every real status change of a job with an id. */
export interface JobStatusChangeEvent {
  event: 'JOB_STATUS_CHANGE';
  data: { id: string; status: JobStatus };
}

/** Progress payload shared by the block-job events. */
export interface BlockJobProgress {
  type: string;
  device: string;
  len: number;
  offset: number;
  speed: number;
}

/** `BLOCK_JOB_COMPLETED` (with `error` when the job failed). */
export interface BlockJobCompletedEvent {
  event: 'BLOCK_JOB_COMPLETED';
  data: BlockJobProgress & { error?: string };
}

/** `BLOCK_JOB_CANCELLED`: the job was force-cancelled after it had started. */
export interface BlockJobCancelledEvent {
  event: 'BLOCK_JOB_CANCELLED';
  data: BlockJobProgress;
}

/** `BLOCK_JOB_READY`: the job converged and can be completed. */
export interface BlockJobReadyEvent {
  event: 'BLOCK_JOB_READY';
  data: BlockJobProgress;
}

/** `BLOCK_JOB_PENDING`: sent only for jobs with auto-finalize off. */
export interface BlockJobPendingEvent {
  event: 'BLOCK_JOB_PENDING';
  data: { type: string; id: string };
}

/** `BLOCK_JOB_ERROR`: an I/O error met the job's error policy. */
export interface BlockJobErrorEvent {
  event: 'BLOCK_JOB_ERROR';
  data: { device: string; operation: 'read' | 'write'; action: 'report' | 'ignore' | 'stop' };
}

/** Every event the job layer emits, in QMP's `{event, data}` shape (timestamps are the monitor's). */
export type JobEvent =
  | JobStatusChangeEvent
  | BlockJobCompletedEvent
  | BlockJobCancelledEvent
  | BlockJobReadyEvent
  | BlockJobPendingEvent
  | BlockJobErrorEvent;

/** Where events go: the QMP monitor forwards them; tests record them. */
export type JobEventSink = (event: JobEvent) => void;
