import { errorAt } from '../xml/fail.js';
import type { XmlElement } from '../xml/tree.js';

const POWERS = ['b', 'k', 'm', 'g', 't', 'p', 'e'];

/**
 * Reads a size with libvirt's `unit=` suffixes and returns bytes: `b`/`byte`/`bytes` = 1, a bare
 * prefix or `KiB`-style = powers of 1024, `KB`-style = powers of 1000. A missing unit means
 * `defaultScale` bytes per unit.
 */
export function parseScaledBytes(
  el: XmlElement,
  value: string,
  unit: string | undefined,
  defaultScale = 1,
): number {
  const trimmed = value.trim();
  if (!/^[0-9]+$/.test(trimmed)) throw errorAt(el, `invalid value '${value}' for a size`);
  const n = BigInt(trimmed);
  let scale = BigInt(defaultScale);
  if (unit !== undefined && unit !== '') {
    const lower = unit.toLowerCase();
    if (lower === 'b' || lower === 'byte' || lower === 'bytes') scale = 1n;
    else {
      const power = POWERS.indexOf(lower[0]!);
      const rest = lower.slice(1);
      if (power <= 0 || !(rest === '' || rest === 'ib' || rest === 'b')) {
        throw errorAt(el, `unknown suffix '${unit}'`);
      }
      scale = (rest === 'b' ? 1000n : 1024n) ** BigInt(power);
    }
  }
  const bytes = n * scale;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw errorAt(el, `size '${value}${unit ?? ''}' is too large`);
  return Number(bytes);
}
