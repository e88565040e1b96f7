/**
 * Copies chunks with reads running ahead of writes: up to `depth` reads are in flight while
 * writes happen one at a time in the order the chunks were queued, so source and target I/O
 * overlap and the target's layout does not depend on timing.
 */
export class ReadAhead {
  private readonly free: Uint8Array[];
  private readonly queue: Array<{
    view: Uint8Array;
    buffer: Uint8Array;
    read: Promise<void>;
    write: (view: Uint8Array) => Promise<void>;
  }> = [];

  constructor(
    private readonly depth: number,
    chunk: number,
  ) {
    this.free = Array.from({ length: depth + 1 }, () => new Uint8Array(chunk));
  }

  /** Queues a chunk: `read` fills the view now, `write` consumes it after earlier chunks. */
  async add(
    length: number,
    read: (view: Uint8Array) => Promise<void>,
    write: (view: Uint8Array) => Promise<void>,
  ): Promise<void> {
    if (this.free.length === 0) await this.writeOldest();
    const buffer = this.free.pop() as Uint8Array;
    const view = buffer.subarray(0, length);
    this.queue.push({ view, buffer, read: read(view), write });
    if (this.queue.length >= this.depth) await this.writeOldest();
  }

  /** Writes everything queued (call before any write that must come after them). */
  async drain(): Promise<void> {
    while (this.queue.length > 0) await this.writeOldest();
  }

  /** Waits for reads still running (after a failure), so no buffer is written into later. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.queue.map((job) => job.read));
  }

  private async writeOldest(): Promise<void> {
    const job = this.queue.shift();
    if (!job) return;
    await job.read;
    await job.write(job.view);
    this.free.push(job.buffer);
  }
}
