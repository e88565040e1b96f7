import { cFixed } from './c-fixed.js';

const BINARY_PREFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/**
 * A byte count as qemu-img prints it in human output (`64 MiB`, `1.5 GiB`, `324 KiB`, `0 B`):
 * three significant digits in the largest unit that keeps the value under 1000 of it.
 */
export function sizeToString(bytes: number): string {
  // The unit is chosen as QEMU does: by the binary exponent of bytes scaled by 1024/1000.
  const scaled = bytes / (1000 / 1024);
  const exponent = scaled === 0 ? 0 : Math.floor(Math.log2(scaled)) + 1;
  const index = Math.max(0, Math.min(BINARY_PREFIXES.length - 1, Math.floor((exponent - 1) / 10)));
  const value = bytes / 2 ** (index * 10);
  return `${formatG3(value)} ${BINARY_PREFIXES[index]}B`;
}

/** C's `%0.3g` for the values sizeToString produces (0 <= value < 1024). */
export function formatG3(value: number): string {
  if (value === 0) return '0';
  const decimals = Math.max(0, 2 - Math.floor(Math.log10(value)));
  const text = cFixed(value, decimals);
  if (Number(text) >= 1000) return '1e+03'; // %g switches to an exponent once rounding reaches 1000
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

const IO_UNITS: Array<[number, string]> = [
  [2 ** 60, ' EiB'],
  [2 ** 50, ' PiB'],
  [2 ** 40, ' TiB'],
  [2 ** 30, ' GiB'],
  [2 ** 20, ' MiB'],
  [2 ** 10, ' KiB'],
];

/**
 * qemu-io's way of printing an amount (`4 KiB`, `1.500 KiB`, `62.938 MiB`, `512 bytes`): the
 * value in the largest unit it reaches, with three decimals unless they are all zero.
 */
export function ioAmount(value: number): string {
  let suffix = ' bytes';
  let scaled = value;
  for (const [unit, name] of IO_UNITS) {
    if (value >= unit) {
      suffix = name;
      scaled = value / unit;
      break;
    }
  }
  // C prints "%f" (six decimals) and drops the fraction when ".000" appears anywhere in it.
  const six = cFixed(scaled, 6);
  const cut = six.indexOf('.000');
  if (cut >= 0) return six.slice(0, cut) + suffix;
  return cFixed(scaled, 3) + suffix;
}
