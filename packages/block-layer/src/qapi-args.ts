import { BlockError } from './errors.js';

/**
 * Minimal checks of QMP-shaped arguments where they enter this package, with QAPI's
 * messages, so malformed input gets a typed error instead of a crash. (The monitor
 * validates against the schema first; these keep direct callers safe too.)
 */
export function requireObject(value: unknown, name: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BlockError('invalid-argument', `Invalid parameter type for '${name}', expected: object`);
  }
  return value as Record<string, unknown>;
}

/** A mandatory string member. */
export function requireString(args: Record<string, unknown>, key: string): string {
  const value = args[key];
  if (value === undefined) throw new BlockError('invalid-argument', `Parameter '${key}' is missing`);
  if (typeof value !== 'string') {
    throw new BlockError('invalid-argument', `Invalid parameter type for '${key}', expected: string`);
  }
  return value;
}
