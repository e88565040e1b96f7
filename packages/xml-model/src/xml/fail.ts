import { type LibvirtErrorCode, XmlModelError, type XmlModelErrorCode } from '../errors.js';
import { attr, type XmlElement } from './tree.js';

/** Builds an error located at `el` (its path and line). */
export function errorAt(
  el: XmlElement | undefined,
  detail: string,
  code: XmlModelErrorCode = 'invalid-value',
  libvirtCode?: LibvirtErrorCode,
): XmlModelError {
  return new XmlModelError(detail, {
    code,
    ...(el?.path ? { path: el.path } : {}),
    ...(el?.line !== undefined ? { line: el.line } : {}),
    ...(libvirtCode ? { libvirtCode } : {}),
  });
}

/** Reads an attribute that must be one of `allowed`; undefined when absent. */
export function enumAttr<T extends string>(
  el: XmlElement,
  name: string,
  allowed: readonly T[],
  what: string,
): T | undefined {
  const value = attr(el, name);
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw errorAt(el, `unknown ${what} '${value}'`, 'invalid-value', 'VIR_ERR_CONFIG_UNSUPPORTED');
  }
  return value as T;
}

/** Parses a decimal unsigned integer the way libvirt's strict parsers do (no sign, no junk). */
export function parseUnsigned(el: XmlElement, value: string, what: string, max = 0xffff_ffff): number {
  if (!/^[0-9]+$/.test(value)) throw errorAt(el, `invalid ${what} '${value}'`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n > max) throw errorAt(el, `${what} '${value}' is out of range`);
  return n;
}

/** Reads an optional unsigned attribute. */
export function unsignedAttr(el: XmlElement, name: string, what: string, max?: number): number | undefined {
  const value = attr(el, name);
  return value === undefined ? undefined : parseUnsigned(el, value, what, max);
}

/** Reads a yes/no attribute. */
export function yesNoAttr(el: XmlElement, name: string): boolean | undefined {
  const value = enumAttr(el, name, ['yes', 'no'] as const, `value of ${name}`);
  return value === undefined ? undefined : value === 'yes';
}
