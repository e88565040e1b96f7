/**
 * Counts the requests in flight on one node, and holds new ones back while the node is
 * frozen. Drain (see drain.ts) waits on these counters; freeze is the low-level gate that
 * stops every new request at this node, including those issued by parent nodes.
 */
export class RequestTracker {
  private inFlightCount = 0;
  private frozenCount = 0;
  private idleWaiters: Array<() => void> = [];
  private thawWaiters: Array<() => void> = [];

  /** Requests that have entered and not yet finished. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  get frozen(): boolean {
    return this.frozenCount > 0;
  }

  /** Stops new requests (they wait in {@link run}) until a matching {@link thaw}. Nests. */
  freeze(): void {
    this.frozenCount++;
  }

  thaw(): void {
    if (this.frozenCount === 0) return;
    this.frozenCount--;
    if (this.frozenCount === 0) wakeAll(this.thawWaiters);
  }

  /** Runs one request: waits while frozen, then counts it in flight until it settles. */
  async run<T>(request: () => Promise<T>): Promise<T> {
    while (this.frozenCount > 0) await new Promise<void>((resolve) => this.thawWaiters.push(resolve));
    this.inFlightCount++;
    try {
      return await request();
    } finally {
      this.inFlightCount--;
      if (this.inFlightCount === 0) wakeAll(this.idleWaiters);
    }
  }

  /** Resolves once no request is in flight (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.inFlightCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

function wakeAll(waiters: Array<() => void>): void {
  const woken = waiters.splice(0);
  for (const wake of woken) wake();
}
