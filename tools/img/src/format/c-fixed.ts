/**
 * C's `%.Nf`: like Number#toFixed, except that exact ties round to even (glibc rounds the
 * exact binary value in the default rounding mode, so 1.0625 prints as "1.062", where
 * toFixed gives "1.063"). Output that scripts compare byte for byte depends on it.
 */
export function cFixed(value: number, digits: number): string {
  if (!isExactTie(value, digits)) return value.toFixed(digits);
  const floor = Math.floor(value * 10 ** digits);
  const even = floor % 2 === 0 ? floor : floor + 1;
  const text = String(even).padStart(digits + 1, '0');
  return digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/** Whether value * 10^digits is exactly an integer plus one half (computed exactly, not in floating point). */
function isExactTie(value: number, digits: number): boolean {
  if (!Number.isFinite(value) || value < 0 || value * 10 ** digits > Number.MAX_SAFE_INTEGER) return false;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  let exponent: number;
  if (biased === 0) exponent = -1074;
  else {
    mantissa |= 1n << 52n;
    exponent = biased - 1075;
  }
  // value = mantissa * 2^exponent; a tie means 2 * value * 10^digits is an odd integer.
  if (exponent >= 0) return false;
  const doubled = 2n * mantissa * 10n ** BigInt(digits);
  const divisor = 1n << BigInt(-exponent);
  return doubled % divisor === 0n && (doubled / divisor) % 2n === 1n;
}
