/**
 * The error family of `@strata/qmp-protocol`. Every error thrown or rejected by this package is a
 * {@link QmpProtocolError}; the subclasses say which layer refused what.
 */

/** QMP error classes that QEMU 7.2 sends (`{"error": {"class": ...}}`). */
export type QmpErrorClass =
  | 'GenericError'
  | 'CommandNotFound'
  | 'DeviceNotActive'
  | 'DeviceNotFound'
  | 'KVMMissingCap';

/** Base class of every error of this package. */
export class QmpProtocolError extends Error {
  /** A stable machine-readable reason, unique per subclass family. */
  readonly reason: string;
  /** Whether repeating the same operation may succeed (a timeout, a closed connection). */
  readonly retryable: boolean;

  constructor(reason: string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = reason;
    this.retryable = options?.retryable ?? false;
  }
}

/** Why the JSON stream decoder refused input; the limits mirror QEMU's JSON streamer. */
export type JsonParseErrorReason =
  | 'lexical'
  | 'syntax'
  | 'token-size'
  | 'message-size'
  | 'token-count'
  | 'nesting';

/**
 * The input stream held something that is not (QEMU's dialect of) JSON, or a message exceeded a
 * bound. `message` is the exact `desc` QEMU sends back for the same input.
 */
export class JsonParseError extends QmpProtocolError {
  declare readonly reason: JsonParseErrorReason;
}

/**
 * An error reply from the peer (`{"error": {"class", "desc"}}`), or an error a server handler throws
 * to produce one. `errorClass` is QMP's `class` member.
 */
export class QmpError extends QmpProtocolError {
  readonly errorClass: string;
  readonly desc: string;
  constructor(errorClass: string, desc: string) {
    super(errorClass, desc);
    this.errorClass = errorClass;
    this.desc = desc;
  }

  /** QMP calls it `class`; provided under that name too for readers of the wire format. */
  get class(): string {
    return this.errorClass;
  }
}

/** The connection closed or failed while a request was pending or before the session started. */
export class QmpConnectionError extends QmpProtocolError {
  constructor(reason: 'closed' | 'greeting' | 'connect' | 'not-connected', message: string, cause?: unknown) {
    super(reason, message, { cause, retryable: true });
  }
}

/** A wait (for an event or a job status) ran out of time. */
export class QmpTimeoutError extends QmpProtocolError {
  constructor(message: string) {
    super('timeout', message, { retryable: true });
  }
}

/** A `-blockdev`-style option string could not be parsed or converted. Wording follows QEMU. */
export class KeyvalError extends QmpProtocolError {
  constructor(message: string) {
    super('keyval', message);
  }
}

/** A QAPI schema document is malformed (generator input, introspection data). */
export class QapiSchemaError extends QmpProtocolError {
  constructor(message: string) {
    super('schema', message);
  }
}
