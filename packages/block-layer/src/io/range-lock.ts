/**
 * Serialises requests on overlapping byte ranges: {@link acquire} waits until no held range
 * overlaps, then holds its own until released. Used where a request reads and rewrites a
 * wider range than it was asked to (copy-on-write of partial clusters), so that two such
 * requests cannot undo each other's data.
 */
export class RangeLock {
  private readonly held = new Set<{ start: number; end: number; done: Promise<void> }>();

  async acquire(offset: number, length: number): Promise<() => void> {
    const start = offset;
    const end = offset + length;
    for (;;) {
      const blocking = [...this.held].find((h) => h.start < end && start < h.end);
      if (!blocking) break;
      await blocking.done;
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const entry = { start, end, done };
    this.held.add(entry);
    return () => {
      this.held.delete(entry);
      release();
    };
  }
}
