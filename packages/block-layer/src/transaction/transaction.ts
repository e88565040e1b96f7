/**
 * One registered step of a {@link Transaction}: what to do when the whole transaction
 * commits, what undoes the step when it aborts, and what to release either way.
 */
export interface TransactionStep {
  commit?(): void;
  abort?(): void;
  clean?(): void;
}

/**
 * Registered undo, in QEMU's shape: every prepare step does its change at once and
 * registers {commit, abort, clean}. {@link commit} or {@link abort} then runs the
 * registered handlers newest first (so undo unwinds in reverse), and every clean runs last.
 * A transaction is finished exactly once; later steps are refused.
 */
export class Transaction {
  private readonly steps: TransactionStep[] = [];
  private finished = false;

  /** Registers a step (its change must already be applied). */
  add(step: TransactionStep): void {
    if (this.finished) throw new Error('Transaction already finished');
    this.steps.push(step);
  }

  /** Number of registered steps. */
  get size(): number {
    return this.steps.length;
  }

  commit(): void {
    this.finish((step) => step.commit?.());
  }

  abort(): void {
    this.finish((step) => step.abort?.());
  }

  private finish(run: (step: TransactionStep) => void): void {
    if (this.finished) throw new Error('Transaction already finished');
    this.finished = true;
    const reversed = [...this.steps].reverse();
    for (const step of reversed) run(step);
    for (const step of reversed) step.clean?.();
  }
}

/**
 * Runs `body` with `outer` when given (the caller commits or aborts it), or with a
 * transaction of its own that commits on success and aborts on any error.
 */
export function inTransaction<T>(outer: Transaction | undefined, body: (tran: Transaction) => T): T {
  if (outer) return body(outer);
  const tran = new Transaction();
  let result: T;
  try {
    result = body(tran);
  } catch (error) {
    tran.abort();
    throw error;
  }
  tran.commit();
  return result;
}
