import { QmpError } from '../errors.js';
import { type DecodedMessage, type JsonDecoderLimits, JsonStreamDecoder } from '../json/decoder.js';
import { getMember, isJsonObject, type JsonObject, type JsonValue } from '../json/json-value.js';
import { qemuKeyOrder } from '../json/qemu-key-order.js';
import { encodeQmpMessage, type KeyOrder } from '../json/writer.js';
import { InputVisitor } from '../schema/input-visitor.js';
import type { SchemaIndex } from '../schema/schema-index.js';
import type { CommandRegistry, RegisteredCommand } from './command-registry.js';
import type { QmpTransport } from './transport.js';

/** What a session reads from the server that owns it. */
export interface SessionHost {
  readonly registry: CommandRegistry;
  readonly schema: SchemaIndex;
  readonly greeting: JsonObject;
  readonly decoderLimits: JsonDecoderLimits;
  readonly keyOrder: KeyOrder;
  /** Most in-band requests queued while one runs before input is paused (QEMU: 8). */
  readonly maxQueuedRequests: number;
  /** Turn a reply that does not match the command's return type into an error reply. */
  readonly strictReplies: boolean;
  sessionClosed(session: QmpSession): void;
}

/** Capabilities-negotiation mode, then command mode, then closed. */
export type SessionState = 'negotiation' | 'command' | 'closed';

const utf8 = new TextEncoder();
const NEGOTIATION_HINT = "Expecting capabilities negotiation with 'qmp_capabilities'";

/**
 * One QMP connection: greeting, `qmp_capabilities` negotiation, request checking and dispatch one
 * request at a time in arrival order, replies with the request's `id`, and events once negotiated.
 * Everything a handler emits before it returns is written before its reply.
 */
export class QmpSession {
  private readonly decoder: JsonStreamDecoder;
  // Requests waiting their turn; `head` advances instead of shifting so a flood of tiny messages
  // costs linear time.
  private queue: DecodedMessage[] = [];
  private head = 0;
  private running = false;
  private paused = false;
  private closeAfterCurrent = false;
  private currentState: SessionState = 'negotiation';
  private oob = false;

  constructor(
    private readonly host: SessionHost,
    private readonly transport: QmpTransport,
  ) {
    this.decoder = new JsonStreamDecoder(host.decoderLimits);
  }

  /** The negotiation state. */
  get state(): SessionState {
    return this.currentState;
  }

  /** Whether the client enabled out-of-band execution. */
  get oobEnabled(): boolean {
    return this.oob;
  }

  /** Sends the greeting; call once when the connection opens. */
  start(): void {
    this.send(this.host.greeting);
  }

  /** Feeds bytes read from the connection. */
  receive(chunk: Uint8Array): void {
    if (this.currentState === 'closed') return;
    for (const message of this.decoder.feed(chunk)) {
      if (message.kind === 'value' && this.isOobRequest(message.value)) {
        // Out-of-band requests overtake the queue, as in QEMU.
        void this.handle(message);
        continue;
      }
      this.queue.push(message);
    }
    if (this.queued > this.host.maxQueuedRequests && !this.paused) {
      this.paused = true;
      this.transport.pause?.();
    }
    void this.pump();
  }

  /** The peer hung up (or the server shuts down): stop processing, forget queued requests. */
  close(): void {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    this.queue = [];
    this.head = 0;
    this.host.sessionClosed(this);
  }

  /** Hangs up: stops processing and closes the transport (requests in flight get no reply). */
  disconnect(): void {
    this.close();
    this.transport.end();
  }

  /** Closes the connection once the reply to the running request has been written (for `quit`). */
  closeAfterReply(): void {
    this.closeAfterCurrent = true;
  }

  /** Writes an event message if the session is in command mode (events wait for negotiation). */
  sendEvent(message: JsonObject): void {
    if (this.currentState === 'command') this.send(message);
  }

  private send(message: JsonValue): void {
    if (this.currentState === 'closed') return;
    this.transport.write(utf8.encode(encodeQmpMessage(message, { keyOrder: this.host.keyOrder })));
  }

  private get queued(): number {
    return this.queue.length - this.head;
  }

  private isOobRequest(value: JsonValue): boolean {
    return (
      this.oob && isJsonObject(value) && Object.hasOwn(value, 'exec-oob') && !Object.hasOwn(value, 'execute')
    );
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queued > 0 && this.currentState !== 'closed') {
        const message = this.queue[this.head++]!;
        if (this.head === this.queue.length) {
          this.queue = [];
          this.head = 0;
        }
        await this.handle(message);
        if (this.closeAfterCurrent) {
          this.close();
          this.transport.end();
          return;
        }
        if (this.paused && this.queued <= this.host.maxQueuedRequests) {
          this.paused = false;
          this.transport.resume?.();
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async handle(message: DecodedMessage): Promise<void> {
    if (message.kind === 'error') {
      this.send({ error: { class: 'GenericError', desc: message.error.message } });
      return;
    }
    const request = message.value;
    if (!isJsonObject(request)) {
      this.send({ error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } });
      return;
    }
    const id = getMember(request, 'id');
    const reply = (body: JsonObject): void => {
      if (id !== undefined) body['id'] = id;
      this.send(body);
    };
    try {
      const result = await this.dispatch(request, id);
      reply({ return: result ?? {} });
    } catch (error) {
      const failure =
        error instanceof QmpError
          ? error
          : new QmpError('GenericError', error instanceof Error ? error.message : String(error));
      let desc = failure.desc;
      if (this.currentState === 'negotiation' && failure.errorClass === 'CommandNotFound')
        desc = NEGOTIATION_HINT;
      reply({ error: { class: failure.errorClass, desc } });
    }
  }

  /** Checks the request envelope, finds the command, validates arguments and runs the handler. */
  private async dispatch(request: JsonObject, id: JsonValue | undefined): Promise<JsonValue | undefined> {
    const generic = (desc: string): QmpError => new QmpError('GenericError', desc);
    let hasExec = false;
    // Members are checked in the order QEMU's dictionary yields them.
    for (const key of qemuKeyOrder(Object.keys(request))) {
      const value = request[key]!;
      if (key === 'execute' || (key === 'exec-oob' && this.oob)) {
        if (typeof value !== 'string') throw generic(`QMP input member '${key}' must be a string`);
        if (hasExec) throw generic("QMP input member 'execute' clashes with 'exec-oob'");
        hasExec = true;
      } else if (key === 'arguments') {
        if (!isJsonObject(value)) throw generic("QMP input member 'arguments' must be an object");
      } else if (key !== 'id') {
        throw generic(`QMP input member '${key}' is unexpected`);
      }
    }
    if (!hasExec) throw generic("QMP input lacks member 'execute'");
    const execute = getMember(request, 'execute');
    const oob = execute === undefined;
    const name = (oob ? getMember(request, 'exec-oob') : execute) as string;
    const command = this.findCommand(name);
    if (command === undefined)
      throw new QmpError('CommandNotFound', `The command ${name} has not been found`);
    if (oob && command.options.allowOob !== true) throw generic(`The command ${name} does not support OOB`);
    const rawArgs = (getMember(request, 'arguments') as JsonObject | undefined) ?? {};
    const argType = command.options.argumentsType ?? this.host.schema.command(name)?.['arg-type'];
    const args =
      argType === undefined ? rawArgs : new InputVisitor(this.host.schema).visitArguments(argType, rawArgs);
    if (name === 'qmp_capabilities') return this.negotiate(args);
    const result = await command.handler(args, { session: this, id });
    return this.shapeReply(name, result);
  }

  /**
   * Passes a reply through the schema: members come out in schema order, which is the order
   * QEMU inserts them and therefore decides its output order where keys share a hash bucket.
   * A reply that does not fit is sent as is, or refused when replies are strict.
   */
  private shapeReply(name: string, result: JsonValue | undefined): JsonValue | undefined {
    const retType = this.host.schema.command(name)?.['ret-type'];
    if (result === undefined || retType === undefined) return result;
    try {
      return new InputVisitor(this.host.schema).visit(retType, result, []);
    } catch (error) {
      if (!this.host.strictReplies || !(error instanceof QmpError)) return result;
      throw new QmpError('GenericError', `reply to '${name}' does not match the schema: ${error.desc}`);
    }
  }

  private findCommand(name: string): RegisteredCommand | undefined {
    if (this.currentState === 'negotiation' && name !== 'qmp_capabilities') return undefined;
    return this.host.registry.get(name);
  }

  private negotiate(args: JsonObject): JsonValue {
    if (this.currentState !== 'negotiation') {
      throw new QmpError('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
    }
    const enable = (getMember(args, 'enable') as string[] | undefined) ?? [];
    const offered = getMember(this.host.greeting, 'QMP');
    const capabilities = isJsonObject(offered) ? getMember(offered, 'capabilities') : undefined;
    for (const capability of enable) {
      if (!Array.isArray(capabilities) || !capabilities.includes(capability)) {
        throw new QmpError('GenericError', `Capability '${capability}' not available`);
      }
    }
    this.oob = enable.includes('oob');
    this.currentState = 'command';
    return {};
  }
}
