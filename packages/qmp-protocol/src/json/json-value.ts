/**
 * A JSON value as QEMU's QObject model holds it. Integers that do not fit a double exactly (beyond
 * ±2^53 but within int64/uint64) are `bigint` so that ids such as `12345678901234567890` round-trip.
 */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;

/** A JSON object; member order is insertion order (QEMU's output order is computed by the writer). */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Sets a member without ever touching the prototype chain: a peer may send `"__proto__"` as a key
 * and it must stay a plain member.
 */
export function setMember(target: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** Own member lookup that ignores inherited properties such as `constructor`. */
export function getMember(target: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(target, key) ? target[key] : undefined;
}
