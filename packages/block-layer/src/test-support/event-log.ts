import type { JobEvent } from '../job/job-events.js';
import type { JobManager } from '../job/job-manager.js';

/** Records the events a job manager emits, for assertions. */
export class EventLog {
  readonly events: JobEvent[] = [];

  constructor(manager: JobManager) {
    manager.subscribe((event) => this.events.push(event));
  }

  /** The events of one job (by id or device), as `{event, data}` records. */
  of(id: string): Array<{ event: string; data: Record<string, unknown> }> {
    return this.events
      .filter((e) => {
        const data = e.data as Record<string, unknown>;
        return data['id'] === id || data['device'] === id;
      })
      .map((e) => ({ event: e.event, data: { ...(e.data as Record<string, unknown>) } }));
  }

  /** `status` names and event names in order: `created`, `running`, `BLOCK_JOB_READY`, ... */
  names(id: string): string[] {
    return this.of(id).map((e) => (e.event === 'JOB_STATUS_CHANGE' ? String(e.data['status']) : e.event));
  }
}

/** Waits for pending timers and immediates to run (jobs finish from the main loop). */
export function settle(rounds = 5): Promise<void> {
  return new Promise((resolve) => {
    let left = rounds;
    const tick = () => (--left <= 0 ? resolve() : setImmediate(tick));
    setImmediate(tick);
  });
}
