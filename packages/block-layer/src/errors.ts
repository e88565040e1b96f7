/**
 * The QMP error classes a block-layer failure maps to. Most are `GenericError`; lookups of
 * block jobs answer `DeviceNotActive` and lookups of devices `DeviceNotFound`, as QEMU does.
 */
export type QmpErrorClass = 'GenericError' | 'DeviceNotFound' | 'DeviceNotActive';

/**
 * Why a block-layer operation failed. Callers branch on it; the message carries QEMU's
 * wording so a QMP monitor can forward it unchanged.
 */
export type BlockErrorReason =
  | 'invalid-argument' // a malformed name, size, offset or option
  | 'not-found' // a node, bitmap or job that does not exist
  | 'exists' // a name already taken
  | 'in-use' // a node still attached, a bitmap busy, a job id taken
  | 'permission' // a permission conflict between users of a node
  | 'read-only' // a write to a read-only node or backend
  | 'out-of-range' // a request past the end of a node
  | 'busy' // blocked by a running job or a frozen link
  | 'job-verb' // a job command not accepted in the job's current state
  | 'io' // the image below failed (cause holds the original error)
  | 'cancelled'
  | 'transaction-aborted';

/**
 * The one error family of @strata/block-layer: a discriminating `reason`, the QMP error
 * class it maps to, and the original `cause` when another layer failed.
 */
export class BlockError extends Error {
  override readonly name = 'BlockError';
  readonly reason: BlockErrorReason;
  readonly qmpClass: QmpErrorClass;

  constructor(
    reason: BlockErrorReason,
    message: string,
    options: { qmpClass?: QmpErrorClass; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.qmpClass = options.qmpClass ?? 'GenericError';
  }
}

/** Wraps anything thrown by a lower layer into a {@link BlockError} (kept as `cause`). */
export function toBlockError(cause: unknown): BlockError {
  if (cause instanceof BlockError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new BlockError('io', message, { cause });
}
