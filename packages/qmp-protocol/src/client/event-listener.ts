import { QmpConnectionError, QmpTimeoutError } from '../errors.js';
import type { QmpEventMap } from '../generated/qapi-types.js';
import type { JsonObject } from '../json/json-value.js';

/** An event as received: name, data (absent for events without data) and the server's timestamp. */
export interface QmpEventMessage<N extends string = string> {
  readonly event: N;
  readonly data: N extends keyof QmpEventMap ? QmpEventMap[N] : JsonObject | undefined;
  readonly timestamp: { readonly seconds: number; readonly microseconds: number };
}

/** Any event, typed by its name where the schema knows it. */
export type QmpAnyEvent =
  | { [N in keyof QmpEventMap]: QmpEventMessage<N> }[keyof QmpEventMap]
  | QmpEventMessage;

/** Which events a listener keeps. */
export interface EventFilter {
  /** Event names to keep; all events when absent. */
  readonly names?: readonly string[];
  /** Further condition on the event (for example its `data.id` or `data.device`). */
  readonly predicate?: (event: QmpEventMessage) => boolean;
}

interface Waiter {
  resolve(event: QmpEventMessage): void;
  reject(error: Error): void;
  predicate?: (event: QmpEventMessage) => boolean;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * One consumer's queue of events: every matching event is kept until taken, so no event is lost
 * between two waits. Several listeners see the same events independently. Iterate it with
 * `for await`; the iteration ends when the listener is closed or the connection ends.
 */
export class QmpEventListener implements AsyncIterable<QmpEventMessage> {
  private readonly queue: QmpEventMessage[] = [];
  private readonly waiters: Waiter[] = [];
  private closedWith: Error | undefined;

  constructor(
    private readonly filter: EventFilter,
    private readonly detach: (listener: QmpEventListener) => void,
  ) {}

  /** Called by the client for each incoming event. */
  deliver(event: QmpEventMessage): void {
    if (this.closedWith !== undefined) return;
    if (this.filter.names !== undefined && !this.filter.names.includes(event.event)) return;
    if (this.filter.predicate !== undefined && !this.filter.predicate(event)) return;
    const index = this.waiters.findIndex((w) => w.predicate === undefined || w.predicate(event));
    if (index >= 0) {
      const [waiter] = this.waiters.splice(index, 1);
      clearTimeout(waiter!.timer);
      waiter!.resolve(event);
      return;
    }
    this.queue.push(event);
  }

  /** Events received and not yet taken. */
  get pending(): readonly QmpEventMessage[] {
    return this.queue;
  }

  /** Takes every queued event. */
  drain(): QmpEventMessage[] {
    return this.queue.splice(0, this.queue.length);
  }

  /**
   * The next queued or future event that satisfies `predicate`, skipping (and dropping) none:
   * events that do not match stay queued. Rejects with `QmpTimeoutError` after `timeoutMs`.
   */
  next(predicate?: (event: QmpEventMessage) => boolean, timeoutMs?: number): Promise<QmpEventMessage> {
    const index = this.queue.findIndex((e) => predicate === undefined || predicate(e));
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0]!);
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (predicate !== undefined) waiter.predicate = predicate;
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new QmpTimeoutError(`no matching event within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  /** Stops listening; pending waits reject, iteration ends. */
  close(reason: Error = new QmpConnectionError('closed', 'event listener closed')): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = reason;
    this.detach(this);
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(reason);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<QmpEventMessage> {
    for (;;) {
      try {
        yield await this.next();
      } catch (error) {
        if (this.closedWith !== undefined && this.queue.length === 0) return;
        throw error;
      }
    }
  }
}

/**
 * Predicate for the events of one job: job events name it in `data.id`, block-job events in
 * `data.device` (which holds the job id for jobs started with a `job-id`).
 */
export function forJob(jobId: string): (event: QmpEventMessage) => boolean {
  return (event) => {
    const data = event.data as JsonObject | undefined;
    if (data === undefined || data === null || typeof data !== 'object') return false;
    return data['id'] === jobId || data['device'] === jobId;
  };
}
