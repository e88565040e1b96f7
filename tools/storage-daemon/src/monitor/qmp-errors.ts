import { BlockError } from '@strata/block-layer';
import { QmpError } from '@strata/qmp-protocol';

/**
 * Turns whatever a block-layer call threw into the QMP error the client sees: a
 * `BlockError` keeps its QMP class and QEMU-worded message; anything else becomes a
 * `GenericError` with its message, as QEMU reports unexpected failures.
 */
export function toQmpError(error: unknown): QmpError {
  if (error instanceof QmpError) return error;
  if (error instanceof BlockError) return new QmpError(error.qmpClass, error.message);
  return new QmpError('GenericError', error instanceof Error ? error.message : String(error));
}

/** Runs a handler body and rethrows its failure as a {@link QmpError}. */
export async function qmpCall<T>(body: () => T | Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toQmpError(error);
  }
}
