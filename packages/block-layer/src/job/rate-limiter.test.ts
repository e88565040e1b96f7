import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limiter.js';

describe('RateLimiter', () => {
  it('never delays without a speed', () => {
    const limiter = new RateLimiter(0, () => 0);
    expect(limiter.unlimited).toBe(true);
    expect(limiter.account(1 << 30)).toBe(0);
  });

  it('lets a slice quota through, then delays by the overdraft in slices', () => {
    let now = 1000;
    // 1 MiB/s = 104857.6 bytes per 100 ms slice.
    const limiter = new RateLimiter(1 << 20, () => now);
    expect(limiter.account(50_000)).toBe(0);
    expect(limiter.account(50_000)).toBe(0);
    // 200 000 dispatched = 1.907 slices: wait until the slice end moves to start + 190.7 ms.
    const delay = limiter.account(100_000);
    expect(delay).toBeCloseTo(((200_000 / 104_857.6) * 100) as number, 6);
    now += delay + 1;
    // A new slice starts once the extended one is over.
    expect(limiter.account(1000)).toBe(0);
  });

  it('applies a new speed to the next accounting', () => {
    const now = 0;
    const limiter = new RateLimiter(1000, () => now);
    expect(limiter.account(200)).toBeGreaterThan(0);
    limiter.setSpeed(0);
    expect(limiter.account(1 << 20)).toBe(0);
  });
});
