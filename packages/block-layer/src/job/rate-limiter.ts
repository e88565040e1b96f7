/** Job time slice: QEMU accounts speed limits per 100 ms. */
export const SLICE_MS = 100;

/**
 * Token-bucket speed limit in QEMU's style: each time slice allows `speed × slice`
 * bytes; a request that overdraws the quota is let through, and the caller then waits for
 * as many slices as the overdraft covers. `now` is injectable so tests need no real time.
 */
export class RateLimiter {
  private sliceStart = 0;
  private sliceEnd = 0;
  private dispatched = 0;
  private quota = 0;

  constructor(
    speed = 0,
    private readonly now: () => number = () => performance.now(),
    private readonly sliceMs = SLICE_MS,
  ) {
    this.setSpeed(speed);
  }

  /** Bytes per second; 0 means unlimited. */
  setSpeed(speed: number): void {
    this.quota = (speed * this.sliceMs) / 1000;
  }

  get unlimited(): boolean {
    return this.quota === 0;
  }

  /** Accounts `bytes` just done; returns how many milliseconds to wait before the next request. */
  account(bytes: number): number {
    if (this.quota === 0) return 0;
    const now = this.now();
    if (this.sliceEnd < now) {
      this.sliceStart = now;
      this.sliceEnd = now + this.sliceMs;
      this.dispatched = 0;
    }
    this.dispatched += bytes;
    if (this.dispatched < this.quota) return 0;
    const slices = this.dispatched / this.quota;
    this.sliceEnd = this.sliceStart + slices * this.sliceMs;
    return this.sliceEnd - now;
  }
}
