import type { JsonObject } from '../json/json-value.js';

/**
 * Events QEMU rate-limits to one per second per kind (and per `data` key where given). Block and
 * job events are never throttled.
 */
export const THROTTLED_EVENTS: Readonly<
  Record<string, { readonly periodMs: number; readonly key?: string }>
> = {
  RTC_CHANGE: { periodMs: 1000 },
  WATCHDOG: { periodMs: 1000 },
  BALLOON_CHANGE: { periodMs: 1000 },
  QUORUM_REPORT_BAD: { periodMs: 1000, key: 'node-name' },
  QUORUM_FAILURE: { periodMs: 1000 },
  VSERPORT_CHANGE: { periodMs: 1000, key: 'id' },
  MEMORY_DEVICE_SIZE_CHANGE: { periodMs: 1000, key: 'qom-path' },
};

/** The timer functions the throttle uses (injectable for tests). */
export interface ThrottleTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const nodeTimers: ThrottleTimers = {
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    // A pending throttled event must not keep the process alive.
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface ThrottleState {
  handle: unknown;
  /** The latest event held back during the period; it keeps its original timestamp. */
  held: JsonObject | undefined;
}

/**
 * QEMU's event throttling: the first event of a kind goes out at once and opens a period; events
 * during the period replace one another and the last one goes out when the period ends, which
 * opens a new period.
 */
export class EventThrottle {
  private readonly states = new Map<string, ThrottleState>();

  constructor(
    private readonly send: (message: JsonObject) => void,
    private readonly timers: ThrottleTimers = nodeTimers,
  ) {}

  /** Sends the message now, later, or never (replaced by a later one), as QEMU would. */
  offer(event: string, data: JsonObject | undefined, message: JsonObject): void {
    const rule = THROTTLED_EVENTS[event];
    if (rule === undefined) {
      this.send(message);
      return;
    }
    const keyValue = rule.key === undefined ? '' : String(data?.[rule.key] ?? '');
    const key = `${event}\u0000${keyValue}`;
    const state = this.states.get(key);
    if (state !== undefined) {
      state.held = message;
      return;
    }
    this.send(message);
    const fresh: ThrottleState = { handle: undefined, held: undefined };
    const expire = (): void => {
      if (fresh.held === undefined) {
        this.states.delete(key);
        return;
      }
      const held = fresh.held;
      fresh.held = undefined;
      this.send(held);
      fresh.handle = this.timers.setTimeout(expire, rule.periodMs);
    };
    fresh.handle = this.timers.setTimeout(expire, rule.periodMs);
    this.states.set(key, fresh);
  }

  /** Drops held events and stops the timers. */
  dispose(): void {
    for (const state of this.states.values()) this.timers.clearTimeout(state.handle);
    this.states.clear();
  }
}
