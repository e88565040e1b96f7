import { formatDouble17g } from './format-double.js';
import type { JsonValue } from './json-value.js';
import { qemuKeyOrder } from './qemu-key-order.js';

/** How object members are ordered on output. */
export type KeyOrder = 'qemu' | 'insertion';

/** Options for {@link encodeJson}. */
export interface JsonWriterOptions {
  /**
   * `'qemu'` (default) reproduces QEMU's hash-table order byte for byte; `'insertion'` keeps the
   * order of the object as given.
   */
  readonly keyOrder?: KeyOrder;
}

const SHORT_ESCAPES: Record<number, string> = {
  34: '\\"',
  92: '\\\\',
  8: '\\b',
  12: '\\f',
  10: '\\n',
  13: '\\r',
  9: '\\t',
};

const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');

/**
 * Writes a string as QEMU does: pure ASCII out, `\uXXXX` with upper-case hex for controls, DEL
 * and everything beyond ASCII, surrogate pairs above U+FFFF; an unpaired surrogate becomes U+FFFD.
 */
export function encodeJsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0x20 && cp < 0x7f && cp !== 0x22 && cp !== 0x5c) {
      out += text[i];
      continue;
    }
    const short = SHORT_ESCAPES[cp];
    if (short !== undefined) {
      out += short;
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += `\\u${hex4(cp)}\\u${hex4(next)}`;
        i++;
        continue;
      }
      cp = 0xfffd;
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    out += `\\u${hex4(cp)}`;
  }
  return `${out}"`;
}

function encodeNumber(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER && !Object.is(value, -0)) {
    return String(value);
  }
  return formatDouble17g(value);
}

/** Serialises one value in QEMU's compact style: `", "` between members, `": "` after keys. */
export function encodeJson(value: JsonValue, options: JsonWriterOptions = {}): string {
  const order = options.keyOrder ?? 'qemu';
  const write = (v: JsonValue): string => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'boolean':
        return v ? 'true' : 'false';
      case 'number':
        return encodeNumber(v);
      case 'bigint':
        return v.toString();
      case 'string':
        return encodeJsonString(v);
    }
    if (Array.isArray(v)) {
      return v.length === 0 ? '[]' : `[${v.map(write).join(', ')}]`;
    }
    const keys = Object.keys(v).filter((key) => v[key] !== undefined);
    if (keys.length === 0) return '{}';
    const ordered = order === 'qemu' ? qemuKeyOrder(keys) : keys;
    return `{${ordered.map((key) => `${encodeJsonString(key)}: ${write(v[key]!)}`).join(', ')}}`;
  };
  return write(value);
}

/** One QMP message on the wire: the JSON text followed by CR LF. */
export function encodeQmpMessage(value: JsonValue, options: JsonWriterOptions = {}): string {
  return `${encodeJson(value, options)}\r\n`;
}
