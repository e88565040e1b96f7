import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { QmpConnectionError, QmpError, QmpTimeoutError } from '../errors.js';
import type { QmpCommandMap } from '../generated/qapi-types.js';
import { JsonStreamDecoder } from '../json/decoder.js';
import { getMember, isJsonObject, type JsonObject, type JsonValue } from '../json/json-value.js';
import { encodeQmpMessage } from '../json/writer.js';
import { type EventFilter, QmpEventListener, type QmpEventMessage } from './event-listener.js';

/** Where the QMP server listens. */
export type QmpAddress = { readonly path: string } | { readonly host?: string; readonly port: number };

/** Options of {@link QmpClient.connect}. */
export interface QmpClientOptions {
  /** Run `qmp_capabilities` after the greeting (default true). */
  readonly negotiate?: boolean;
  /** Capabilities to enable during negotiation (default none). */
  readonly enable?: readonly string[];
  /** How long to wait for the connection and greeting, in ms (default 10000). */
  readonly timeoutMs?: number;
  /**
   * Give up on a command reply after this many ms (rejecting with `QmpTimeoutError`; a late
   * reply is ignored). Default: wait as long as the connection lives.
   */
  readonly commandTimeoutMs?: number;
}

/** The greeting's `QMP` member. */
export interface QmpGreeting {
  readonly version: {
    readonly qemu: { major: number; minor: number; micro: number };
    readonly package: string;
  };
  readonly capabilities: readonly string[];
}

type ArgumentsOf<K extends keyof QmpCommandMap> = QmpCommandMap[K]['arguments'];
/** Arguments may be left out when every member is optional. */
export type ExecuteArgs<K extends keyof QmpCommandMap> =
  Record<string, never> extends ArgumentsOf<K> ? [args?: ArgumentsOf<K>] : [args: ArgumentsOf<K>];

interface Pending {
  readonly command: string;
  resolve(value: JsonValue): void;
  reject(error: Error): void;
}

const utf8 = new TextEncoder();

/**
 * A QMP client over a unix socket or TCP: reads the greeting, negotiates, runs commands
 * (`execute`, typed by the QAPI schema) and hands events to listeners. Replies and events may
 * arrive interleaved; when the connection ends every pending request rejects with
 * `QmpConnectionError`.
 */
export class QmpClient {
  private readonly decoder = new JsonStreamDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<QmpEventListener>();
  private nextId = 1;
  private closedError: QmpConnectionError | undefined;
  private greetingWaiter: { resolve(g: QmpGreeting): void; reject(e: Error): void } | undefined;
  private receivedGreeting: QmpGreeting | undefined;
  private closeWaiters: (() => void)[] = [];

  private commandTimeoutMs: number | undefined;

  private constructor(private readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.onClose(new QmpConnectionError('closed', 'QMP connection closed')));
    // QMP has no half-closed state: the server ending its side ends the connection.
    socket.on('end', () => {
      this.onClose(new QmpConnectionError('closed', 'QMP connection closed'));
      socket.end(() => socket.destroy());
    });
    socket.on('error', (error) =>
      this.onClose(new QmpConnectionError('closed', `QMP connection failed: ${error.message}`, error)),
    );
  }

  /** Connects, reads the greeting and (unless told not to) negotiates capabilities. */
  static async connect(address: QmpAddress, options: QmpClientOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const socket =
      'path' in address
        ? createConnection(address.path)
        : createConnection(address.port, address.host ?? '127.0.0.1');
    // The client listens for socket errors from the start, so none can go unhandled.
    const client = new QmpClient(socket);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(
          new QmpConnectionError(
            'connect',
            `cannot connect to ${describe(address)}: ${error.message}`,
            error,
          ),
        );
      };
      const timer = setTimeout(() => {
        socket.off('error', onError);
        socket.destroy();
        reject(new QmpConnectionError('connect', `timed out connecting to ${describe(address)}`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve();
      });
      socket.once('error', onError);
    });
    return QmpClient.start(client, options);
  }

  /**
   * Runs QMP over an already open byte stream (a socket, one end of an in-process pair, a
   * serial line): reads the greeting and negotiates like {@link connect}.
   */
  static fromStream(stream: Duplex, options: QmpClientOptions = {}): Promise<QmpClient> {
    return QmpClient.start(new QmpClient(stream), options);
  }

  private static async start(client: QmpClient, options: QmpClientOptions): Promise<QmpClient> {
    client.commandTimeoutMs = options.commandTimeoutMs;
    try {
      await client.readGreeting(options.timeoutMs ?? 10_000);
      if (options.negotiate !== false) await client.negotiate(options.enable ?? []);
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** The server's greeting. */
  get greeting(): QmpGreeting {
    if (this.receivedGreeting === undefined) throw new QmpConnectionError('greeting', 'no greeting received');
    return this.receivedGreeting;
  }

  /** Sends `qmp_capabilities`, enabling the given capabilities. */
  async negotiate(enable: readonly string[] = []): Promise<void> {
    await this.executeRaw('qmp_capabilities', enable.length > 0 ? { enable: [...enable] } : undefined);
  }

  /** Runs a command of the QAPI schema; resolves with its `return` value, rejects with `QmpError`. */
  execute<K extends keyof QmpCommandMap>(
    command: K,
    ...args: ExecuteArgs<K>
  ): Promise<QmpCommandMap[K]['returns']> {
    return this.executeRaw(command, args[0] as JsonObject | undefined) as Promise<
      QmpCommandMap[K]['returns']
    >;
  }

  /** Runs any command by name without schema typing. */
  executeRaw(command: string, args?: JsonObject): Promise<JsonValue> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const request: JsonObject = { execute: command };
    if (args !== undefined) request['arguments'] = args;
    request['id'] = id;
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (this.commandTimeoutMs !== undefined) {
        const limit = this.commandTimeoutMs;
        timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new QmpTimeoutError(`no reply to '${command}' within ${limit} ms`));
        }, limit);
      }
      this.pending.set(id, {
        command,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.socket.write(utf8.encode(encodeQmpMessage(request, { keyOrder: 'insertion' })));
    });
  }

  /** Sends raw bytes (for testing servers with hand-written or malformed input). */
  sendRaw(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === 'string' ? utf8.encode(bytes) : bytes);
  }

  /** A new event queue for this consumer; close it when done. */
  listen(filter: EventFilter = {}): QmpEventListener {
    const listener = new QmpEventListener(filter, (l) => this.listeners.delete(l));
    if (this.closedError !== undefined) listener.close(this.closedError);
    else this.listeners.add(listener);
    return listener;
  }

  /**
   * Waits for the next event called `name` that satisfies `predicate`. Only events arriving after
   * the call count: to catch an event caused by a command, call this (or {@link listen}) first.
   */
  async waitFor(
    name: string,
    predicate?: (event: QmpEventMessage) => boolean,
    timeoutMs?: number,
  ): Promise<QmpEventMessage> {
    const filter: EventFilter = predicate === undefined ? { names: [name] } : { names: [name], predicate };
    const listener = this.listen(filter);
    try {
      return await listener.next(undefined, timeoutMs);
    } finally {
      listener.close();
    }
  }

  /** All events from now on, until the connection closes. */
  events(filter: EventFilter = {}): AsyncIterable<QmpEventMessage> {
    return this.listen(filter);
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Closes the connection; pending requests reject. Resolves once the socket is closed. */
  close(): Promise<void> {
    if (this.closedError !== undefined && this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      this.socket.end(() => this.socket.destroy());
    });
  }

  private readGreeting(timeoutMs: number): Promise<QmpGreeting> {
    if (this.receivedGreeting !== undefined) return Promise.resolve(this.receivedGreeting);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new QmpTimeoutError(`no QMP greeting within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.greetingWaiter = {
        resolve: (g) => {
          clearTimeout(timer);
          resolve(g);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  private onData(chunk: Uint8Array): void {
    for (const message of this.decoder.feed(chunk)) {
      if (message.kind === 'error') {
        this.failAll(
          new QmpConnectionError(
            'closed',
            `server sent invalid JSON: ${message.error.message}`,
            message.error,
          ),
        );
        this.socket.destroy();
        return;
      }
      const value = message.value;
      if (!isJsonObject(value)) continue;
      this.onMessage(value);
    }
  }

  private onMessage(message: JsonObject): void {
    const greeting = getMember(message, 'QMP');
    if (greeting !== undefined && this.receivedGreeting === undefined) {
      this.receivedGreeting = greeting as unknown as QmpGreeting;
      this.greetingWaiter?.resolve(this.receivedGreeting);
      return;
    }
    if (typeof getMember(message, 'event') === 'string') {
      const event = message as unknown as QmpEventMessage;
      for (const listener of [...this.listeners]) listener.deliver(event);
      return;
    }
    const id = getMember(message, 'id');
    const pending = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (pending === undefined) return;
    this.pending.delete(id as number);
    const error = getMember(message, 'error');
    if (isJsonObject(error)) {
      pending.reject(new QmpError(String(getMember(error, 'class')), String(getMember(error, 'desc'))));
    } else {
      pending.resolve(getMember(message, 'return') ?? {});
    }
  }

  private onClose(error: QmpConnectionError): void {
    if (this.closedError === undefined) this.failAll(error);
    if (this.socket.destroyed || error.cause === undefined) {
      for (const resolve of this.closeWaiters.splice(0)) resolve();
    }
  }

  private failAll(error: QmpConnectionError): void {
    if (this.closedError !== undefined) return;
    this.closedError = error;
    this.greetingWaiter?.reject(error);
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(
        new QmpConnectionError(
          'closed',
          `${error.message} while waiting for the reply to '${pending.command}'`,
          error,
        ),
      );
    }
    for (const listener of [...this.listeners]) listener.close(error);
  }
}

function describe(address: QmpAddress): string {
  return 'path' in address ? address.path : `${address.host ?? '127.0.0.1'}:${address.port}`;
}

/** Narrowing helper: is this error a QMP error reply of the given class? */
export function isQmpError(error: unknown, errorClass?: string): error is QmpError {
  return error instanceof QmpError && (errorClass === undefined || error.errorClass === errorClass);
}
