import { KeyvalError, QmpError } from '../errors.js';
import { QAPI_SCHEMA } from '../generated/qapi-schema.js';
import { JsonStreamDecoder } from '../json/decoder.js';
import { isJsonObject, type JsonObject } from '../json/json-value.js';
import { InputVisitor } from '../schema/input-visitor.js';
import { SchemaIndex } from '../schema/schema-index.js';
import type { SchemaEntity } from '../schema/schema-info.js';
import { type KeyvalOptions, parseKeyval } from './keyval-parse.js';

/** Options of {@link parseOptionArgument}. */
export interface OptionArgumentOptions extends KeyvalOptions {
  /** Schema holding the target type (default: qemu-storage-daemon 7.2's). */
  readonly schema?: readonly SchemaEntity[];
}

let defaultIndex: SchemaIndex | undefined;
const utf8 = new TextEncoder();

/**
 * Parses one command-line option argument (`--blockdev`, `--export`, `--nbd-server`,
 * `--object`, `--monitor`) into a QAPI object of type `typeName`. A value starting with `{` is
 * JSON and is checked like QMP arguments; otherwise it is key=value syntax whose strings are
 * converted to the integers, booleans and sizes the schema asks for. Errors are `KeyvalError`s
 * carrying QEMU's wording.
 */
export function parseOptionArgument(
  text: string,
  typeName: string,
  options: OptionArgumentOptions = {},
): JsonObject {
  if (defaultIndex === undefined && options.schema === undefined) defaultIndex = new SchemaIndex(QAPI_SCHEMA);
  const schema = options.schema === undefined ? defaultIndex! : new SchemaIndex(options.schema);
  const json = text.trimStart().startsWith('{');
  let input: JsonObject;
  if (json) {
    const messages = new JsonStreamDecoder().feed(utf8.encode(text));
    const [first] = messages;
    if (first === undefined) throw new KeyvalError('JSON parse error, premature EOI');
    if (first.kind === 'error') throw new KeyvalError(first.error.message);
    if (messages.length > 1) throw new KeyvalError('JSON parse error, expecting a single value');
    if (!isJsonObject(first.value)) throw new KeyvalError('JSON value must be an object');
    input = first.value;
  } else {
    input = parseKeyval(text, options);
  }
  try {
    return new InputVisitor(schema, json ? 'json' : 'keyval').visitArguments(typeName, input);
  } catch (error) {
    if (error instanceof QmpError) throw new KeyvalError(error.desc);
    throw error;
  }
}
