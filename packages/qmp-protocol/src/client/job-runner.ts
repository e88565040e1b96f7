import { QmpError } from '../errors.js';
import type { JobStatus } from '../generated/qapi-types.js';
import { getMember, isJsonObject } from '../json/json-value.js';
import type { QmpClient } from './client.js';
import type { QmpEventMessage } from './event-listener.js';

/** Options of {@link runJob}. */
export interface RunJobOptions {
  /** The job's id (`job-id` of the command that creates it). */
  readonly jobId: string;
  /** Starts the job, for example `() => client.execute('blockdev-create', {...})`. */
  readonly start: () => Promise<unknown>;
  /** Status to wait for (default `concluded`). */
  readonly until?: JobStatus;
  /** Give up after this many ms (default: wait forever). */
  readonly timeoutMs?: number;
  /** Run `job-dismiss` once concluded (default true; skip it for auto-dismissed jobs). */
  readonly dismiss?: boolean;
}

/** How a job run ended. */
export interface JobRunResult {
  /** Every status the job went through, in order, from JOB_STATUS_CHANGE events. */
  readonly statuses: readonly JobStatus[];
  /** The job's error message when it concluded with an error. */
  readonly error?: string;
}

const statusOf = (event: QmpEventMessage): JobStatus | undefined => {
  const data = event.data;
  if (!isJsonObject(data)) return undefined;
  return getMember(data, 'status') as JobStatus | undefined;
};

/**
 * Starts a job and follows its JOB_STATUS_CHANGE events until it reaches `until`. Listening starts
 * before the job does, so no transition is missed. When the wanted status is `concluded`, the
 * job's error (from `query-jobs`) is reported and the job is dismissed unless told otherwise.
 */
export async function runJob(client: QmpClient, options: RunJobOptions): Promise<JobRunResult> {
  const until = options.until ?? 'concluded';
  const listener = client.listen({
    names: ['JOB_STATUS_CHANGE'],
    predicate: (event) => isJsonObject(event.data) && getMember(event.data, 'id') === options.jobId,
  });
  const statuses: JobStatus[] = [];
  try {
    await options.start();
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    for (;;) {
      const remaining = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
      const event = await listener.next(undefined, remaining);
      const status = statusOf(event);
      if (status === undefined) continue;
      statuses.push(status);
      if (status === until) break;
      if (status === 'null')
        throw new QmpError('GenericError', `job '${options.jobId}' ended before reaching '${until}'`);
    }
  } finally {
    listener.close();
  }
  if (until !== 'concluded') return { statuses };
  const jobs = await client.execute('query-jobs');
  const info = jobs.find((job) => job.id === options.jobId);
  if (options.dismiss !== false && info !== undefined) {
    await client.execute('job-dismiss', { id: options.jobId });
  }
  return info?.error === undefined ? { statuses } : { statuses, error: info.error };
}
