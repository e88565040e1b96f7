/**
 * A readers-writer lock for async code: any number of shared holders (reads) or one exclusive
 * holder (anything that allocates or frees clusters). Waiters are served in arrival order, so
 * a stream of reads cannot starve a write.
 */
export class AsyncRwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: Array<{ exclusive: boolean; wake: () => void }> = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.queue.length > 0) await this.wait(false);
    else this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.dispatch();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.readers > 0 || this.queue.length > 0) await this.wait(true);
    else this.writer = true;
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.dispatch();
    }
  }

  private wait(exclusive: boolean): Promise<void> {
    return new Promise((wake) => this.queue.push({ exclusive, wake }));
  }

  /** Hands the lock to the next waiters: one writer, or every reader up to the next writer. */
  private dispatch(): void {
    if (this.writer) return;
    while (this.queue.length > 0) {
      const next = this.queue[0] as { exclusive: boolean; wake: () => void };
      if (next.exclusive) {
        if (this.readers > 0) return;
        this.queue.shift();
        this.writer = true;
        next.wake();
        return;
      }
      this.queue.shift();
      this.readers++;
      next.wake();
    }
  }
}
