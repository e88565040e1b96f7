import type { QmpCommandMap } from '../generated/qapi-types.js';
import type { JsonObject, JsonValue } from '../json/json-value.js';
import type { QmpSession } from './session.js';

/** What a command handler gets besides its arguments. */
export interface QmpCommandContext {
  /** The session the request came from. */
  readonly session: QmpSession;
  /** The request's `id`, if it had one. */
  readonly id: JsonValue | undefined;
}

/**
 * Runs one command. Receives arguments already validated against the schema (absent optional
 * members are absent). Returns the `return` value (`undefined` means `{}`) or throws a `QmpError`
 * to produce an error reply with that class and description.
 */
export type QmpCommandHandler = (
  args: JsonObject,
  context: QmpCommandContext,
) => JsonValue | undefined | Promise<JsonValue | undefined>;

/**
 * A handler typed by the generated schema: its arguments are the command's argument type and it
 * returns the command's return type (`undefined` standing for `{}`).
 */
export type TypedCommandHandler<K extends keyof QmpCommandMap> = (
  args: QmpCommandMap[K]['arguments'],
  context: QmpCommandContext,
) => QmpCommandMap[K]['returns'] | undefined | Promise<QmpCommandMap[K]['returns'] | undefined>;

/** Options of a registered command. */
export interface QmpCommandOptions {
  /** Accept the command through `exec-oob` (none of qemu-storage-daemon's commands do). */
  readonly allowOob?: boolean;
  /**
   * Name of the argument type in the server's schema. Defaults to the schema's own command entry;
   * a command the schema does not know and that has no type here gets its arguments unchecked.
   */
  readonly argumentsType?: string;
}

/** A registered command. */
export interface RegisteredCommand {
  readonly name: string;
  readonly handler: QmpCommandHandler;
  readonly options: QmpCommandOptions;
}

/** Handlers by command name, in registration order. */
export class CommandRegistry {
  private readonly commands = new Map<string, RegisteredCommand>();

  /** Adds (or replaces) the handler of a command. */
  register(name: string, handler: QmpCommandHandler, options: QmpCommandOptions = {}): void {
    this.commands.set(name, { name, handler, options });
  }

  /** Removes a command. */
  unregister(name: string): void {
    this.commands.delete(name);
  }

  /** The command of that name, if registered. */
  get(name: string): RegisteredCommand | undefined {
    return this.commands.get(name);
  }

  /** Names in registration order. */
  names(): string[] {
    return [...this.commands.keys()];
  }
}
