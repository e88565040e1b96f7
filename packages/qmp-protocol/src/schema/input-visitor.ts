import { QmpError } from '../errors.js';
import { getMember, isJsonObject, type JsonObject, type JsonValue, setMember } from '../json/json-value.js';
import { qemuKeyOrder } from '../json/qemu-key-order.js';
import { GHashKeySet } from './ghash-order.js';
import type { SchemaIndex } from './schema-index.js';
import type { SchemaEntity } from './schema-info.js';

/**
 * How scalars arrive. `json`: from a QMP request, typed by JSON. `keyval`: from a command-line
 * option string, where every scalar is a string and is converted according to the schema.
 */
export type InputMode = 'json' | 'keyval';

type Segment = string | number;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Fixed-width integer types: their range and the name QEMU's range error uses. */
const RANGES: Record<string, { min: bigint; max: bigint; label: string; unsigned: boolean }> = {
  int8: { min: -128n, max: 127n, label: 'int8_t', unsigned: false },
  int16: { min: -32768n, max: 32767n, label: 'int16_t', unsigned: false },
  int32: { min: -(2n ** 31n), max: 2n ** 31n - 1n, label: 'int32_t', unsigned: false },
  uint8: { min: 0n, max: 255n, label: 'uint8_t', unsigned: true },
  uint16: { min: 0n, max: 65535n, label: 'uint16_t', unsigned: true },
  uint32: { min: 0n, max: 2n ** 32n - 1n, label: 'uint32_t', unsigned: true },
};

const SIZE_SUFFIXES: Record<string, bigint> = {
  '': 1n,
  b: 1n,
  B: 1n,
  k: 1n << 10n,
  K: 1n << 10n,
  m: 1n << 20n,
  M: 1n << 20n,
  g: 1n << 30n,
  G: 1n << 30n,
  t: 1n << 40n,
  T: 1n << 40n,
  p: 1n << 50n,
  P: 1n << 50n,
  e: 1n << 60n,
  E: 1n << 60n,
};

/** Dotted path as QEMU prints it: `file.filename`, `actions[0].type`. */
function fullName(path: readonly Segment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/** The bare member name some QEMU messages use instead of the path; `null` for list elements. */
function bareName(path: readonly Segment[]): string {
  const last = path[path.length - 1];
  return typeof last === 'string' ? last : 'null';
}

const generic = (desc: string): QmpError => new QmpError('GenericError', desc);
const wrongType = (path: readonly Segment[], expected: string): QmpError =>
  generic(`Invalid parameter type for '${fullName(path)}', expected: ${expected}`);

function toBigInt(value: JsonValue): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return undefined;
}

/** Narrows back to a number when exact, so ordinary values stay ordinary. */
function fromBigInt(value: bigint): number | bigint {
  return value >= -BigInt(Number.MAX_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

function jsonKind(value: JsonValue): 'qstring' | 'qnum' | 'qbool' | 'qnull' | 'qlist' | 'qdict' {
  if (value === null) return 'qnull';
  if (typeof value === 'string') return 'qstring';
  if (typeof value === 'number' || typeof value === 'bigint') return 'qnum';
  if (typeof value === 'boolean') return 'qbool';
  return Array.isArray(value) ? 'qlist' : 'qdict';
}

/**
 * Checks a value against a schema type the way QEMU's QObject input visitor does (same order of
 * checks, same messages) and returns it, converted when the input is keyval strings. Errors are
 * {@link QmpError}s of class `GenericError`.
 */
export class InputVisitor {
  constructor(
    private readonly schema: SchemaIndex,
    private readonly mode: InputMode = 'json',
  ) {}

  /** Visits the argument object of a command (or any object type) at the top level. */
  visitArguments(typeName: string, args: JsonObject): JsonObject {
    return this.visitObject(this.schema.get(typeName), args, []) as JsonObject;
  }

  /** Visits any value against the named type, starting at `path`. */
  visit(typeName: string, value: JsonValue, path: readonly Segment[]): JsonValue {
    const entity = this.schema.get(typeName);
    switch (entity['meta-type']) {
      case 'builtin':
        return this.visitBuiltin(entity.name, value, path);
      case 'enum': {
        const text = this.visitBuiltin('str', value, path) as string;
        if (!entity.values.includes(text)) {
          throw generic(`Parameter '${bareName(path)}' does not accept value '${text}'`);
        }
        return text;
      }
      case 'array': {
        if (!Array.isArray(value)) throw wrongType(path, 'array');
        return value.map((element, index) => this.visit(entity['element-type'], element, [...path, index]));
      }
      case 'object':
        return this.visitObject(entity, value, path);
      case 'alternate':
        return this.visitAlternate(entity, value, path);
      default:
        throw generic(`'${entity.name}' is not a data type`);
    }
  }

  private visitObject(entity: SchemaEntity, value: JsonValue, path: readonly Segment[]): JsonValue {
    if (entity['meta-type'] !== 'object') return this.visit(entity.name, value, path);
    if (!isJsonObject(value)) throw wrongType(path, 'object');
    const unvisited = new GHashKeySet();
    // A member set to `undefined` (possible from JavaScript callers) counts as absent.
    const keys = Object.keys(value).filter((key) => value[key] !== undefined);
    for (const key of qemuKeyOrder(keys)) unvisited.add(key);
    const out: JsonObject = {};
    this.visitMembers(entity, value, path, unvisited, out);
    const leftover = unvisited.values()[0];
    if (leftover !== undefined) throw generic(`Parameter '${fullName([...path, leftover])}' is unexpected`);
    return out;
  }

  private visitMembers(
    entity: Extract<SchemaEntity, { 'meta-type': 'object' }>,
    value: JsonObject,
    path: readonly Segment[],
    unvisited: GHashKeySet,
    out: JsonObject,
  ): void {
    for (const member of entity.members) {
      const present = Object.hasOwn(value, member.name) && value[member.name] !== undefined;
      if (!present) {
        if (member.default === null) continue;
        throw generic(`Parameter '${fullName([...path, member.name])}' is missing`);
      }
      unvisited.delete(member.name);
      setMember(out, member.name, this.visit(member.type, value[member.name]!, [...path, member.name]));
    }
    if (entity.tag === undefined || entity.variants === undefined) return;
    const tagValue = getMember(out, entity.tag);
    const variant = entity.variants.find((v) => v.case === tagValue);
    if (variant === undefined) return;
    const variantEntity = this.schema.get(variant.type);
    if (variantEntity['meta-type'] !== 'object') return;
    this.visitMembers(variantEntity, value, path, unvisited, out);
  }

  private visitAlternate(
    entity: Extract<SchemaEntity, { 'meta-type': 'alternate' }>,
    value: JsonValue,
    path: readonly Segment[],
  ): JsonValue {
    const kind = jsonKind(value);
    const branch = entity.members.find((m) => this.kindOf(m.type) === kind);
    if (branch !== undefined) return this.visit(branch.type, value, path);
    if (this.mode === 'keyval' && kind === 'qstring') {
      // Command-line scalars are all strings; let the one scalar branch convert it.
      const scalar = entity.members.find((m) => ['qnum', 'qbool', 'qnull'].includes(this.kindOf(m.type)));
      if (scalar !== undefined) return this.visit(scalar.type, value, path);
    }
    throw generic(`Invalid parameter type for '${bareName(path)}', expected: ${entity.name}`);
  }

  private kindOf(typeName: string): string {
    const entity = this.schema.get(typeName);
    switch (entity['meta-type']) {
      case 'enum':
        return 'qstring';
      case 'object':
        return 'qdict';
      case 'array':
        return 'qlist';
      case 'builtin':
        return {
          string: 'qstring',
          number: 'qnum',
          int: 'qnum',
          boolean: 'qbool',
          null: 'qnull',
          object: 'qdict',
          array: 'qlist',
          value: 'any',
        }[entity['json-type']];
      default:
        return 'none';
    }
  }

  private visitBuiltin(name: string, value: JsonValue, path: readonly Segment[]): JsonValue {
    if (this.mode === 'keyval' && typeof value === 'string')
      return this.convertKeyvalScalar(name, value, path);
    switch (name) {
      case 'str':
        if (typeof value !== 'string') throw wrongType(path, 'string');
        return value;
      case 'bool':
        if (typeof value !== 'boolean') throw wrongType(path, 'boolean');
        return value;
      case 'null':
        if (value !== null) throw wrongType(path, 'null');
        return value;
      case 'number':
        if (typeof value !== 'number' && typeof value !== 'bigint') throw wrongType(path, 'number');
        return value;
      case 'any':
        return value;
      case 'int':
      case 'int64': {
        const n = toBigInt(value);
        if (n === undefined || n < INT64_MIN || n > INT64_MAX) throw wrongType(path, 'integer');
        return value;
      }
      case 'uint64':
      case 'size': {
        // Negative numbers are accepted (and wrap) for backward compatibility, as in QEMU.
        const n = toBigInt(value);
        if (n === undefined || n < INT64_MIN || n > UINT64_MAX) {
          throw generic(`Parameter '${fullName(path)}' expects uint64`);
        }
        return value;
      }
      default: {
        const range = RANGES[name];
        if (range === undefined) return value;
        const n = toBigInt(value);
        if (range.unsigned) {
          if (n === undefined || n < INT64_MIN || n > UINT64_MAX)
            throw generic(`Parameter '${fullName(path)}' expects uint64`);
        } else if (n === undefined || n < INT64_MIN || n > INT64_MAX) {
          throw wrongType(path, 'integer');
        }
        if (n < range.min || n > range.max)
          throw generic(`Parameter '${bareName(path)}' expects ${range.label}`);
        return value;
      }
    }
  }

  /** Keyval scalars: parse the string as the schema type wants, worded like QEMU's keyval visitor. */
  private convertKeyvalScalar(name: string, text: string, path: readonly Segment[]): JsonValue {
    const expects = (what: string): QmpError => generic(`Parameter '${fullName(path)}' expects ${what}`);
    switch (name) {
      case 'str':
      case 'any':
        return text;
      case 'bool':
        if (text === 'on' || text === 'yes' || text === 'true') return true;
        if (text === 'off' || text === 'no' || text === 'false') return false;
        throw expects("'on' or 'off'");
      case 'null':
        if (text === '') return null;
        throw expects('null');
      case 'number': {
        const n = Number(text);
        if (text.trim() === '' || Number.isNaN(n)) throw expects('number');
        return n;
      }
      case 'size': {
        const match = /^(\d+(?:\.\d+)?)([bBkKmMgGtTpPeE]?)$/.exec(text);
        if (match === null) throw expects('size');
        const [, digits, suffix] = match as unknown as [string, string, string];
        const scale = SIZE_SUFFIXES[suffix]!;
        let bytes: bigint;
        if (digits.includes('.')) {
          if (suffix === '' || suffix === 'b' || suffix === 'B') throw expects('size');
          bytes = BigInt(Math.floor(Number(digits) * Number(scale)));
        } else {
          bytes = BigInt(digits) * scale;
        }
        if (bytes > UINT64_MAX) throw expects('size');
        return fromBigInt(bytes);
      }
      default: {
        // strtoll with base 0: decimal, 0x hexadecimal, or 0-prefixed octal.
        const match = /^([-+]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(text);
        if (match === null) throw expects('integer');
        const digits = match[2]!;
        const magnitude = /^0[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
        const n = match[1] === '-' ? -magnitude : magnitude;
        const unsigned = name === 'uint64' || RANGES[name]?.unsigned === true;
        if (unsigned ? n < INT64_MIN || n > UINT64_MAX : n < INT64_MIN || n > INT64_MAX)
          throw expects('integer');
        const range = RANGES[name];
        if (range !== undefined && (n < range.min || n > range.max)) {
          throw generic(`Parameter '${bareName(path)}' expects ${range.label}`);
        }
        return fromBigInt(n);
      }
    }
  }
}
