/**
 * JSON exactly as QEMU's tools print it. QEMU builds its output in a hash dictionary and
 * prints the keys in bucket order, so the field order scripts see (and that diff-based tests
 * compare) follows from the key names. Values here are plain objects in any insertion
 * order; {@link toQemuJson} orders each object's keys the way QEMU's dictionary would.
 */
export type QemuJsonValue = string | number | boolean | null | QemuJsonValue[] | QemuJsonObject;
/** A JSON object whose keys QEMU would order by its dictionary hash. */
export interface QemuJsonObject {
  [key: string]: QemuJsonValue | undefined;
}

const BUCKETS = 512;

/** The hash QEMU's dictionary uses (from the TDB library), as an unsigned 32-bit number. */
export function dictHash(key: string): number {
  const bytes = new TextEncoder().encode(key);
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value + ((bytes[i] as number) << ((i * 5) % 24))) >>> 0;
  }
  return (Math.imul(1103515243, value) + 12345) >>> 0;
}

/**
 * The keys of an object in the order QEMU iterates its dictionary: by bucket, and within a
 * bucket the most recently inserted first. `keys` must be in QEMU's insertion order, which
 * only matters for keys sharing a bucket.
 */
export function qemuKeyOrder(keys: readonly string[]): string[] {
  const indexed = keys.map((key, index) => ({ key, index, bucket: dictHash(key) % BUCKETS }));
  indexed.sort((a, b) => a.bucket - b.bucket || b.index - a.index);
  return indexed.map((k) => k.key);
}

/** Serialises like QEMU's pretty JSON writer (four-space indent; `[`/`{` always break lines). */
export function toQemuJson(value: QemuJsonValue, indent = 0): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : formatDouble(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const inner = '\n' + '    '.repeat(indent + 1);
  const outer = '\n' + '    '.repeat(indent);
  if (Array.isArray(value)) {
    const items = value.map((v) => inner + toQemuJson(v, indent + 1));
    return `[${items.join(',')}${outer}]`;
  }
  const keys = qemuKeyOrder(Object.keys(value).filter((k) => value[k] !== undefined));
  const items = keys.map((k) => `${inner}${quote(k)}: ${toQemuJson(value[k] as QemuJsonValue, indent + 1)}`);
  return `{${items.join(',')}${outer}}`;
}

function formatDouble(value: number): string {
  // QEMU prints doubles with %.17g; trailing precision noise is part of its format.
  return value.toPrecision(17).replace(/\.?0+$/, '');
}

function quote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp > 0xffff) {
      const v = cp - 0x10000;
      out += `\\u${hex4(0xd800 | (v >> 10))}\\u${hex4(0xdc00 | (v & 0x3ff))}`;
    } else if (cp < 0x20 || cp >= 0x7f) out += `\\u${hex4(cp)}`;
    else out += ch;
  }
  return `${out}"`;
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}
