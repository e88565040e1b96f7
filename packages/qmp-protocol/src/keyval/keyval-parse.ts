import { KeyvalError } from '../errors.js';
import { type JsonObject, type JsonValue, setMember } from '../json/json-value.js';

/** Options of {@link parseKeyval}. */
export interface KeyvalOptions {
  /** Key assumed for a leading element without `=` (`--export nbd,...` means `type=nbd`). */
  readonly impliedKey?: string;
}

const MAX_KEY_LENGTH = 127;

/** A QAPI-style name fragment: optional leading `_`, a letter, then letters, digits, `-`, `_`. */
function nameLength(text: string, from: number): number {
  let p = from;
  if (text[p] === '_') p++;
  if (!/[A-Za-z]/.test(text[p] ?? '')) return 0;
  while (p < text.length && /[A-Za-z0-9_-]/.test(text[p]!)) p++;
  return p - from;
}

function indexLength(text: string, from: number): number {
  let p = from;
  while (p < text.length && text[p]! >= '0' && text[p]! <= '9') p++;
  return p - from;
}

/** Reads a value up to an unescaped comma; `,,` stands for one comma. */
function readValue(text: string, from: number): [string, number] {
  let out = '';
  let p = from;
  while (p < text.length) {
    if (text[p] === ',') {
      if (text[p + 1] !== ',') break;
      p++;
    }
    out += text[p];
    p++;
  }
  return [out, p];
}

type Tree = Map<string, Tree | string>;

/**
 * Parses QEMU's key=value option syntax into nested objects of strings:
 * `driver=qcow2,file.driver=file,file.filename=a,,b` gives
 * `{driver: 'qcow2', file: {driver: 'file', filename: 'a,b'}}`. Keys made only of indices become
 * lists (`a.0=x,a.1=y`). A repeated key takes the last value. Errors are worded like QEMU's.
 */
export function parseKeyval(text: string, options: KeyvalOptions = {}): JsonObject {
  const root: Tree = new Map();
  let pos = 0;
  let first = true;
  while (pos < text.length) {
    const keyEnd = findKeyEnd(text, pos);
    let key: string;
    if (first && options.impliedKey !== undefined && text[keyEnd] !== '=') {
      key = options.impliedKey;
    } else {
      key = text.slice(pos, keyEnd);
      checkKey(text, pos, keyEnd);
      if (text[keyEnd] !== '=') throw new KeyvalError(`Expected '=' after parameter '${key}'`);
      pos = keyEnd + 1;
    }
    first = false;
    const [value, after] = readValue(text, pos);
    put(root, key, value);
    pos = after;
    if (text[pos] === ',') pos++;
  }
  return listify(root, '') as JsonObject;
}

function findKeyEnd(text: string, from: number): number {
  let p = from;
  while (p < text.length && text[p] !== '=' && text[p] !== ',') p++;
  return p;
}

function checkKey(text: string, from: number, end: number): void {
  const key = text.slice(from, end);
  let p = from;
  for (;;) {
    const length = p !== from && indexLength(text, p) > 0 ? indexLength(text, p) : nameLength(text, p);
    if (length === 0 || (p + length < end && text[p + length] !== '.')) {
      throw new KeyvalError(`Invalid parameter '${key}'`);
    }
    if (length > MAX_KEY_LENGTH)
      throw new KeyvalError(`Parameter '${text.slice(p, p + length)}' is too long`);
    p += length;
    if (p >= end) return;
    p++;
  }
}

function put(root: Tree, key: string, value: string): void {
  const fragments = key.split('.');
  let current = root;
  for (let i = 0; i < fragments.length - 1; i++) {
    const fragment = fragments[i]!;
    const existing = current.get(fragment);
    if (typeof existing === 'string') {
      throw new KeyvalError(`Parameters '${fragments.slice(0, i + 1).join('.')}.*' used inconsistently`);
    }
    if (existing === undefined) {
      const child: Tree = new Map();
      current.set(fragment, child);
      current = child;
    } else {
      current = existing;
    }
  }
  const last = fragments[fragments.length - 1]!;
  if (current.get(last) instanceof Map) throw new KeyvalError(`Parameters '${key}.*' used inconsistently`);
  current.set(last, value);
}

/** Turns objects whose keys are all indices into lists, checking that no index is missing. */
function listify(tree: Tree, prefix: string): JsonValue {
  const keys = [...tree.keys()];
  const indices = keys.filter((k) => /^\d+$/.test(k));
  const convert = (value: Tree | string, key: string): JsonValue =>
    typeof value === 'string' ? value : listify(value, `${prefix}${key}.`);
  if (indices.length === 0) {
    const out: JsonObject = {};
    for (const key of keys) setMember(out, key, convert(tree.get(key)!, key));
    return out;
  }
  if (indices.length !== keys.length) throw new KeyvalError(`Parameters '${prefix}*' used inconsistently`);
  const list: JsonValue[] = [];
  for (let i = 0; i < keys.length; i++) {
    const value = tree.get(String(i));
    if (value === undefined) throw new KeyvalError(`Parameter '${prefix}${i}' missing`);
    list.push(convert(value, String(i)));
  }
  return list;
}
