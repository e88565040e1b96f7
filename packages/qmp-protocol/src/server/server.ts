import { RECORDED_QUERY_QMP_SCHEMA } from '../generated/recorded-introspection.js';
import { QAPI_SCHEMA } from '../generated/qapi-schema.js';
import type { JsonDecoderLimits } from '../json/decoder.js';
import type { JsonObject, JsonValue } from '../json/json-value.js';
import type { KeyOrder } from '../json/writer.js';
import { InputVisitor } from '../schema/input-visitor.js';
import { SchemaIndex } from '../schema/schema-index.js';
import type { SchemaEntity } from '../schema/schema-info.js';
import type { QmpCommandMap, QmpEventMap } from '../generated/qapi-types.js';
import {
  CommandRegistry,
  type QmpCommandHandler,
  type QmpCommandOptions,
  type TypedCommandHandler,
} from './command-registry.js';
import { EventThrottle, type ThrottleTimers } from './event-throttle.js';
import { QmpSession, type SessionHost } from './session.js';
import type { QmpTransport } from './transport.js';

/** The `query-version` / greeting version object. */
export interface QmpVersionInfo {
  readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number };
  readonly package: string;
}

/** Options of a {@link QmpServer}. */
export interface QmpServerOptions {
  /** Version announced in the greeting and by `query-version`. Default: QEMU 7.2.0, package "strata". */
  readonly version?: QmpVersionInfo;
  /** Capabilities offered in the greeting. Default `['oob']`, as qemu-storage-daemon. */
  readonly capabilities?: readonly string[];
  /** Schema used to validate arguments. Default: qemu-storage-daemon 7.2's schema. */
  readonly schema?: readonly SchemaEntity[];
  /** The `query-qmp-schema` answer. Default: what qemu-storage-daemon 7.2 answers. */
  readonly introspection?: readonly JsonValue[];
  /** Bounds on incoming messages. Default: QEMU's. */
  readonly decoderLimits?: JsonDecoderLimits;
  /** Output member order; `'qemu'` (default) is byte-identical to QEMU. */
  readonly keyOrder?: KeyOrder;
  /** Wall clock for event timestamps, in microseconds since the epoch. */
  readonly clock?: () => bigint;
  /**
   * Refuse replies that do not match the command's return type in the schema (an error reply
   * instead). Meant for tests of command implementations; default false.
   */
  readonly strictReplies?: boolean;
  /** Timers for QEMU's one-per-second throttling of some events (tests inject fake ones). */
  readonly throttleTimers?: ThrottleTimers;
}

/** Default version: the QEMU release whose protocol this package speaks. */
export const DEFAULT_VERSION: QmpVersionInfo = { qemu: { major: 7, minor: 2, micro: 0 }, package: 'strata' };

/** Wall-clock microseconds; `performance` gives sub-millisecond resolution on the epoch scale. */
const wallClockMicros = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));

/**
 * A QMP server independent of any transport: register command handlers, attach connections with
 * {@link connect}, broadcast events with {@link emitEvent}. `qmp_capabilities`, `query-commands`,
 * `query-version` and `query-qmp-schema` are built in.
 */
export class QmpServer {
  private readonly registry = new CommandRegistry();
  private readonly sessions = new Set<QmpSession>();
  private readonly host: SessionHost;
  private readonly clock: () => bigint;
  private readonly throttle: EventThrottle;
  /** The version this server announces. */
  readonly version: QmpVersionInfo;

  constructor(options: QmpServerOptions = {}) {
    this.version = options.version ?? DEFAULT_VERSION;
    this.clock = options.clock ?? wallClockMicros;
    this.throttle = new EventThrottle((message) => {
      for (const session of this.sessions) session.sendEvent(message);
    }, options.throttleTimers);
    const version = this.versionObject();
    const introspection = options.introspection ?? RECORDED_QUERY_QMP_SCHEMA.return;
    const sessions = this.sessions;
    this.host = {
      registry: this.registry,
      schema: new SchemaIndex(options.schema ?? QAPI_SCHEMA),
      greeting: { QMP: { version, capabilities: [...(options.capabilities ?? ['oob'])] } },
      decoderLimits: options.decoderLimits ?? {},
      keyOrder: options.keyOrder ?? 'qemu',
      maxQueuedRequests: 8,
      strictReplies: options.strictReplies ?? false,
      sessionClosed: (session) => sessions.delete(session),
    };
    // Negotiation itself is handled by the session; the entry makes the command known.
    this.registry.register('qmp_capabilities', () => ({}));
    this.registry.register('query-version', () => this.versionObject());
    this.registry.register('query-commands', () =>
      this.registry
        .names()
        .reverse()
        .map((name) => ({ name })),
    );
    this.registry.register('query-qmp-schema', () => [...introspection]);
  }

  /**
   * Registers the handler of a command (replacing a previous one). For a command of the schema
   * the handler is typed by it; any other name takes an untyped handler.
   */
  register<K extends keyof QmpCommandMap>(
    name: K,
    handler: TypedCommandHandler<K>,
    options?: QmpCommandOptions,
  ): void;
  register(name: string, handler: QmpCommandHandler, options?: QmpCommandOptions): void;
  register(name: string, handler: QmpCommandHandler, options?: QmpCommandOptions): void {
    this.registry.register(name, handler, options);
  }

  /** Removes a command. */
  unregister(name: string): void {
    this.registry.unregister(name);
  }

  /** Names of the registered commands. */
  commandNames(): string[] {
    return this.registry.names();
  }

  /** Attaches a connection: sends the greeting and returns the session to feed input into. */
  connect(transport: QmpTransport): QmpSession {
    const session = new QmpSession(this.host, transport);
    this.sessions.add(session);
    session.start();
    return session;
  }

  /** Sessions currently attached. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Sends an event to every negotiated session, stamped with the wall clock. `data` is left out
   * when undefined, as QEMU does for events without data. The events QEMU throttles
   * (`QUORUM_REPORT_BAD`, `QUORUM_FAILURE`, `VSERPORT_CHANGE`, ...) are limited to one per second
   * the same way, a delayed event keeping its original timestamp.
   */
  emitEvent<N extends keyof QmpEventMap>(event: N, data: QmpEventMap[N]): void;
  emitEvent(event: string, data?: JsonObject): void;
  emitEvent(event: string, data?: JsonObject): void {
    const now = this.clock();
    const message: JsonObject = {
      timestamp: { seconds: Number(now / 1_000_000n), microseconds: Number(now % 1_000_000n) },
      event,
    };
    if (data !== undefined) message['data'] = this.shapeEventData(event, data);
    this.throttle.offer(event, data, message);
  }

  /** Hangs up every session and drops throttled events still held back. */
  closeAll(): void {
    for (const session of [...this.sessions]) session.disconnect();
    this.throttle.dispose();
  }

  /** Event data in schema order (QEMU's insertion order); data the schema does not fit stays as is. */
  private shapeEventData(event: string, data: JsonObject): JsonObject {
    const entity = this.host.schema.event(event);
    if (entity === undefined) return data;
    try {
      return new InputVisitor(this.host.schema).visitArguments(entity['arg-type'], data);
    } catch {
      return data;
    }
  }

  private versionObject(): JsonObject {
    const { major, minor, micro } = this.version.qemu;
    return { qemu: { major, minor, micro }, package: this.version.package };
  }
}
