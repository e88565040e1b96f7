import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BlockGraph } from '../graph/graph.js';
import { TestJob } from '../test-support/test-job.js';
import { JobManager } from './job-manager.js';
import { LongTimer, MAX_TIMER_MS } from './long-timer.js';
import { RateLimiter } from './rate-limiter.js';

/** A job that sleeps once for `ms`, as a throttled job does after a big request at a tiny speed. */
class SleepyJob extends TestJob {
  woke = false;
  constructor(
    graph: BlockGraph,
    private readonly ms: number,
  ) {
    super({ graph, id: 'sleepy', steps: 0 });
  }

  protected override async run(): Promise<void> {
    await this.sleep(this.ms);
    this.woke = true;
  }
}

describe('timers longer than Node allows', () => {
  let delays: number[];
  beforeEach(() => {
    vi.useFakeTimers();
    delays = [];
    const original = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return original(fn, ms);
    }) as typeof setTimeout);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('a long timer fires only once the whole delay has passed, re-arming below the limit', () => {
    const fired = vi.fn();
    const total = 4_194_304_000; // 4 MiB at 1 byte/s, the case that overflowed
    new LongTimer(fired, total);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(total - MAX_TIMER_MS - 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(delays.length).toBeGreaterThan(1);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
  });

  it('a cancelled long timer never fires, even after a re-arm', () => {
    const fired = vi.fn();
    const timer = new LongTimer(fired, 3 * MAX_TIMER_MS);
    vi.advanceTimersByTime(MAX_TIMER_MS + 5);
    timer.cancel();
    vi.advanceTimersByTime(5 * MAX_TIMER_MS);
    expect(fired).not.toHaveBeenCalled();
  });

  it('short delays are one plain timer', () => {
    const fired = vi.fn();
    new LongTimer(fired, 250);
    vi.advanceTimersByTime(249);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(delays).toEqual([250]);
  });

  it('a job told by its rate limiter to wait beyond 2^31 ms honours the whole wait', async () => {
    const limiter = new RateLimiter(1, () => 0);
    const wait = limiter.account(4 << 20);
    expect(wait).toBeGreaterThan(MAX_TIMER_MS);
    const jobs = new JobManager();
    const job = jobs.create(new SleepyJob(new BlockGraph(), wait));
    job.start();
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 10);
    expect(job.woke).toBe(false);
    expect(job.status).toBe('running');
    await vi.advanceTimersByTimeAsync(wait - MAX_TIMER_MS);
    expect(job.woke).toBe(true);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
    await vi.advanceTimersByTimeAsync(10);
    expect(job.status).toBe('null');
  });
});
