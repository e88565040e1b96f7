/**
 * Why an image operation failed. Each reason names one way an image, a request or an
 * option can be wrong, so callers can branch on it and users get a precise message.
 */
export type ImageErrorReason =
  | 'io' // the underlying file failed (the cause holds the system error)
  | 'truncated' // the file ends before a structure it must contain
  | 'bad-magic' // not the format the caller named
  | 'unsupported-version'
  | 'unsupported-feature' // an incompatible feature bit this implementation refuses
  | 'encrypted'
  | 'corrupt' // metadata is inconsistent (overlap, out of range, unaligned, ...)
  | 'too-large' // a table, extension or string is past the limits QEMU also enforces
  | 'backing-loop'
  | 'backing-too-deep'
  | 'backing-format-missing' // a backing file without a recorded format, where guessing is refused
  | 'out-of-range' // a request past the end of the image
  | 'read-only'
  | 'invalid-argument'
  | 'not-found' // a named snapshot or bitmap does not exist
  | 'exists' // a snapshot or bitmap of that name already exists
  | 'in-use' // e.g. a bitmap marked in-use by a writer that did not close cleanly
  | 'closed';

/**
 * The one error family of @strata/image-format. `reason` discriminates; `path` names the
 * image file when known; `cause` keeps the original error (for `io`).
 */
export class ImageError extends Error {
  override readonly name = 'ImageError';
  readonly reason: ImageErrorReason;
  readonly path: string | undefined;

  constructor(reason: ImageErrorReason, message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.path = options.path;
  }
}
