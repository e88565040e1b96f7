/** The longest delay a Node timer takes; a longer one fires after 1 ms with a TimeoutOverflowWarning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A one-shot timer for any delay: delays beyond {@link MAX_TIMER_MS} are slept in pieces,
 * re-arming until the whole delay has passed (a tiny job speed can ask for days).
 */
export class LongTimer {
  private handle: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly fire: () => void,
    ms: number,
  ) {
    this.arm(Math.max(0, ms));
  }

  private arm(left: number): void {
    // An infinite delay never fires: the caller is only woken by other means.
    if (!Number.isFinite(left)) return;
    const step = Math.min(left, MAX_TIMER_MS);
    this.handle = setTimeout(() => {
      this.handle = null;
      if (left > step) this.arm(left - step);
      else this.fire();
    }, step);
  }

  /** Stops the timer; it will not fire. */
  cancel(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = null;
  }
}
