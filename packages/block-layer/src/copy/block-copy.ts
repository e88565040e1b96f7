import type { DirtyBitmapStore } from '../bitmap/bitmap-store.js';
import type { BlockNode } from '../graph/node.js';
import { chainAllocation } from './chain-allocation.js';

/** Options of a {@link BlockCopy}. */
export interface BlockCopyOptions {
  /** Where data is read from (through its backing chain). */
  source: BlockNode;
  /** Where it is written; looked up per request because a job's target can be swapped. */
  target: () => BlockNode;
  /** What is left to copy; bits are cleared when a copy is claimed and set again on failure. */
  bitmap: DirtyBitmapStore;
  /** Largest single request (bytes, a multiple of the bitmap's granularity). */
  maxChunk: number;
  /** Requests in flight at most. */
  maxInFlight: number;
  /** Write zeroes where the source reads as zeroes without data (instead of copying them). */
  detectZeroes?: boolean;
}

/** A copy failure: which side failed, and the original error. */
export class CopyFailure extends Error {
  override readonly name = 'CopyFailure';

  constructor(
    readonly isRead: boolean,
    readonly offset: number,
    readonly length: number,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

interface Operation {
  start: number;
  end: number;
  done: Promise<void>;
}

/**
 * The copy machinery jobs share (mirror, commit, backup), after QEMU's block-copy: ranges
 * marked in a bitmap are copied from a source node to a target node by many concurrent
 * requests. Contiguous dirty granules are coalesced into one request up to `maxChunk`;
 * ranges that read as zeroes (by allocation status, never by reading) become write-zeroes
 * on the target. A claimed range is cleared in the bitmap before any I/O starts, so a
 * write that races with the copy marks it dirty again and nothing is lost; overlapping
 * requests never run at once, so copies of one range are never reordered.
 */
export class BlockCopy {
  readonly source: BlockNode;
  readonly bitmap: DirtyBitmapStore;
  private readonly target: () => BlockNode;
  private readonly maxChunk: number;
  readonly maxInFlight: number;
  private readonly detectZeroes: boolean;
  private readonly operations = new Set<Operation>();
  private readonly failures: CopyFailure[] = [];
  private readonly finishWaiters: Array<() => void> = [];
  /** Where the next search for dirty granules starts (it wraps around at the end). */
  private cursor = 0;
  /** Bytes written to the target (data and zeroes) by completed requests. */
  bytesDone = 0;
  /** Bytes of data actually read and written (what a speed limit counts). */
  bytesCopied = 0;

  constructor(options: BlockCopyOptions) {
    this.source = options.source;
    this.target = options.target;
    this.bitmap = options.bitmap;
    this.maxChunk = Math.max(options.bitmap.granularity, options.maxChunk);
    this.maxInFlight = Math.max(1, options.maxInFlight);
    this.detectZeroes = options.detectZeroes ?? true;
  }

  get granularity(): number {
    return this.bitmap.granularity;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.operations.size;
  }

  /** Bytes covered by requests in flight (held guest ranges included). */
  get inFlightBytes(): number {
    let bytes = 0;
    for (const op of this.operations) bytes += op.end - op.start;
    return bytes;
  }

  /** Bytes still marked to copy. */
  get remaining(): number {
    return this.bitmap.count();
  }

  /** Failures of completed requests not yet taken by {@link takeFailure}. */
  get failed(): boolean {
    return this.failures.length > 0;
  }

  takeFailure(): CopyFailure | undefined {
    return this.failures.shift();
  }

  /** Resolves when no request in flight overlaps [start, end). */
  async waitForOverlapping(start: number, end: number): Promise<void> {
    for (;;) {
      const blocking = this.overlapping(start, end);
      if (!blocking) return;
      await blocking.done.catch(() => undefined);
    }
  }

  /** Resolves when some request in flight finishes (at once when none is). */
  waitForAny(): Promise<void> {
    if (this.operations.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.finishWaiters.push(resolve));
  }

  /** Resolves when nothing is in flight. */
  async waitIdle(): Promise<void> {
    while (this.operations.size > 0) await this.waitForAny();
  }

  /**
   * Claims the next dirty run (from the cursor, wrapping around) that no request in flight
   * overlaps, clears it and starts copying it in the background. Returns the bytes
   * claimed, or 0 when nothing can start now (all clean, all busy, or no free slot).
   */
  launchNext(): number {
    if (this.operations.size >= this.maxInFlight) return 0;
    const found = this.nextFreeDirty();
    if (!found) return 0;
    const { start, end } = found;
    this.cursor = end >= this.bitmap.size ? 0 : end;
    this.startOperation(start, end, true);
    return end - start;
  }

  /**
   * Copies every dirty granule of [offset, offset+length) now (what copy-before-write does
   * before a guest write): waits for overlapping requests, then claims and copies what is
   * still dirty. Throws the first failure (the range is dirty again then).
   */
  async copyNow(offset: number, length: number): Promise<void> {
    const g = this.granularity;
    const start = Math.floor(offset / g) * g;
    const end = Math.min(this.bitmap.size, Math.ceil((offset + length) / g) * g);
    for (;;) {
      const blocking = this.overlapping(start, end);
      if (blocking) {
        await blocking.done.catch(() => undefined);
        continue;
      }
      // No await from the check above to the claims below: nothing can slip in between.
      const mine: Promise<void>[] = [];
      for (let at = start; at < end; ) {
        const run = this.bitmap.nextDirty(at);
        if (!run || run.offset >= end) break;
        const runEnd = Math.min(end, run.offset + run.length);
        for (let piece = run.offset; piece < runEnd; piece += this.maxChunk) {
          mine.push(this.startOperation(piece, Math.min(runEnd, piece + this.maxChunk), false));
        }
        at = runEnd;
      }
      if (mine.length === 0) return;
      const results = await Promise.allSettled(mine);
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) throw failure.reason;
    }
  }

  /**
   * Holds [offset, offset+length) against background copies (a write-blocking mirror's
   * guest write): waits for overlapping requests, then keeps new ones out until released.
   */
  async hold(offset: number, length: number): Promise<() => void> {
    const end = offset + length;
    for (;;) {
      const blocking = this.overlapping(offset, end);
      if (!blocking) break;
      await blocking.done.catch(() => undefined);
    }
    let settle!: () => void;
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const op: Operation = { start: offset, end, done };
    this.operations.add(op);
    return () => {
      if (!this.operations.delete(op)) return;
      settle();
      for (const wake of this.finishWaiters.splice(0)) wake();
    };
  }

  /** Records a failure met outside the engine's own requests (it is reported like theirs). */
  recordFailure(failure: CopyFailure): void {
    this.failures.push(failure);
  }

  /** Marks [offset, offset+length) to be copied (again). */
  markDirty(offset: number, length: number): void {
    if (length > 0) this.bitmap.set(offset, length);
  }

  private overlapping(start: number, end: number): Operation | undefined {
    for (const op of this.operations) if (op.start < end && start < op.end) return op;
    return undefined;
  }

  /** The first dirty run at or after the cursor (wrapping) that can start now, clipped. */
  private nextFreeDirty(): { start: number; end: number } | null {
    const size = this.bitmap.size;
    let at = this.cursor;
    let wrapped = false;
    for (;;) {
      const run = this.bitmap.nextDirty(at);
      if (!run || (wrapped && run.offset >= this.cursor)) {
        if (wrapped || this.cursor === 0) return null;
        wrapped = true;
        at = 0;
        continue;
      }
      let start = run.offset;
      let end = Math.min(run.offset + run.length, start + this.maxChunk, size);
      const blocking = this.overlapping(start, end);
      if (blocking) {
        if (blocking.start <= start) {
          // The head is busy: look past it.
          at = blocking.end;
          if (at >= size) {
            if (wrapped) return null;
            wrapped = true;
            at = 0;
          }
          continue;
        }
        end = blocking.start;
      }
      for (const op of this.operations) if (op.start > start && op.start < end) end = op.start;
      start = Math.max(start, 0);
      return { start, end };
    }
  }

  private startOperation(start: number, end: number, background: boolean): Promise<void> {
    this.bitmap.reset(start, end - start);
    let settle!: () => void;
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const op: Operation = { start, end, done };
    this.operations.add(op);
    const work = this.copyRange(start, end - start).then(
      () => {
        this.bytesDone += end - start;
      },
      (error: unknown) => {
        this.bitmap.set(start, end - start);
        const failure =
          error instanceof CopyFailure ? error : new CopyFailure(false, start, end - start, error);
        if (background) this.failures.push(failure);
        throw failure;
      },
    );
    const finish = () => {
      this.operations.delete(op);
      settle();
      for (const wake of this.finishWaiters.splice(0)) wake();
    };
    work.then(finish, finish);
    if (background) work.catch(() => undefined);
    return work;
  }

  /** Copies one claimed range: data is read and written, zero runs become write-zeroes. */
  private async copyRange(offset: number, length: number): Promise<void> {
    const end = offset + length;
    for (let at = offset; at < end; ) {
      let status: 'data' | 'zero' = 'data';
      let bytes = end - at;
      if (this.detectZeroes) {
        try {
          const found = await chainAllocation(this.source, at, bytes);
          status = found.status;
          bytes = Math.max(1, Math.min(bytes, found.length));
        } catch (error) {
          throw new CopyFailure(true, at, bytes, error);
        }
      }
      if (status === 'zero') {
        try {
          await this.target().writeZeroes(at, bytes, { mayUnmap: true });
        } catch (error) {
          throw new CopyFailure(false, at, bytes, error);
        }
      } else {
        const buf = new Uint8Array(bytes);
        try {
          await this.source.read(buf, at);
        } catch (error) {
          throw new CopyFailure(true, at, bytes, error);
        }
        try {
          await this.target().write(buf, at);
        } catch (error) {
          throw new CopyFailure(false, at, bytes, error);
        }
        this.bytesCopied += bytes;
      }
      at += bytes;
    }
  }
}
