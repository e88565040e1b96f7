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
  const text = value.toPrecision(3);
  if (text.includes('e')) {
    // Rounding reached 1000 (e.g. 999.7): %g switches to exponent form like "1e+03".
    const [mantissa = '', exponent = '0'] = text.split('e');
    const trimmed = mantissa.replace(/\.?0+$/, '');
    const power = Number(exponent);
    return `${trimmed}e${power < 0 ? '-' : '+'}${String(Math.abs(power)).padStart(2, '0')}`;
  }
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
  const six = scaled.toFixed(6);
  const cut = six.indexOf('.000');
  if (cut >= 0) return six.slice(0, cut) + suffix;
  return scaled.toFixed(3) + suffix;
}
