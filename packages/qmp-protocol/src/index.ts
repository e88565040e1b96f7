/**
 * `@strata/qmp-protocol`: QEMU's QMP monitor protocol as QEMU 7.2 speaks it. A wire codec with no
 * I/O (incremental decoder, byte-exact encoder), a generic server with a command dispatcher, a
 * client, QAPI types generated from the schema, and QEMU's key=value option syntax.
 */

/** Error family of the package. */
export {
  JsonParseError,
  type JsonParseErrorReason,
  KeyvalError,
  QapiSchemaError,
  QmpConnectionError,
  QmpError,
  type QmpErrorClass,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';

/** JSON values as QMP carries them (`bigint` for integers beyond 2^53). */
export { isJsonObject, type JsonObject, type JsonValue } from './json/json-value.js';
/** Incremental stream decoder with QEMU's error recovery and bounds. */
export {
  type DecodedMessage,
  type JsonDecoderLimits,
  JsonStreamDecoder,
  QEMU_JSON_LIMITS,
} from './json/decoder.js';
/** QEMU-identical JSON output. */
export {
  encodeJson,
  encodeJsonString,
  encodeQmpMessage,
  type JsonWriterOptions,
  type KeyOrder,
} from './json/writer.js';
/** QEMU's object member order. */
export { qemuKeyOrder } from './json/qemu-key-order.js';
/** C `%.17g` formatting of doubles. */
export { formatDouble17g } from './json/format-double.js';

/** Introspection entities and schema-driven argument checking. */
export type {
  AlternateEntity,
  ArrayEntity,
  BuiltinEntity,
  CommandEntity,
  EnumEntity,
  EventEntity,
  JsonType,
  ObjectEntity,
  ObjectMember,
  ObjectVariant,
  SchemaEntity,
} from './schema/schema-info.js';
/** Name lookup over a schema. */
export { SchemaIndex } from './schema/schema-index.js';
/** QEMU's QObject input visitor: validation and keyval conversion. */
export { type InputMode, InputVisitor } from './schema/input-visitor.js';
/** The qemu-storage-daemon 7.2 schema with real type names. */
export { QAPI_SCHEMA } from './generated/qapi-schema.js';
/** Replies recorded from the real qemu-storage-daemon 7.2. */
export {
  RECORDED_GREETING,
  RECORDED_QUERY_COMMANDS,
  RECORDED_QUERY_QMP_SCHEMA,
  RECORDED_QUERY_VERSION,
} from './generated/recorded-introspection.js';
/** Generated QAPI types (structs, enums, unions, alternates, command and event maps). */
export type * from './generated/qapi-types.js';

/** Generic server. */
export {
  DEFAULT_VERSION,
  QmpServer,
  type QmpServerOptions,
  type QmpVersionInfo,
} from './server/server.js';
/** One server-side connection. */
export { QmpSession, type SessionState } from './server/session.js';
/** Handler signatures. */
export type {
  QmpCommandContext,
  QmpCommandHandler,
  QmpCommandOptions,
} from './server/command-registry.js';
/** QEMU's per-second throttling of some events. */
export { THROTTLED_EVENTS, type ThrottleTimers } from './server/event-throttle.js';
/** The transport a session writes to. */
export type { QmpTransport } from './server/transport.js';
/** node:net adapter for the server. */
export { attachSocket, listenQmp, type QmpListenAddress } from './server/net-transport.js';

/** Client. */
export {
  type ExecuteArgs,
  isQmpError,
  type QmpAddress,
  QmpClient,
  type QmpClientOptions,
  type QmpGreeting,
} from './client/client.js';
/** A client wired to a server in the same process, without sockets. */
export { connectInProcess } from './in-process.js';
/** Per-consumer event queues. */
export {
  type EventFilter,
  forJob,
  type QmpAnyEvent,
  QmpEventListener,
  type QmpEventMessage,
} from './client/event-listener.js';
/** Job helper driven by JOB_STATUS_CHANGE. */
export { type JobRunResult, type RunJobOptions, runJob } from './client/job-runner.js';

/** QEMU's key=value option syntax. */
export { type KeyvalOptions, parseKeyval } from './keyval/keyval-parse.js';
/** qemu-storage-daemon's QAPI-typed command-line options. */
export {
  parseDaemonOption,
  STORAGE_DAEMON_OPTIONS,
  type StorageDaemonOption,
} from './keyval/daemon-options.js';
/** Command-line option arguments (keyval or JSON) converted with the schema. */
export { type OptionArgumentOptions, parseOptionArgument } from './keyval/option-argument.js';
