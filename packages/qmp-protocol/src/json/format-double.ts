/**
 * Formats a double the way C's `printf("%.17g")` does, which is how QEMU writes every JSON number
 * that is not an integer: 17 significant digits, trailing zeros dropped, exponent form when the
 * exponent is below -4 or at least 17 (`1.2345678901234569e+23`).
 */
export function formatDouble17g(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Number.POSITIVE_INFINITY) return 'inf';
  if (value === Number.NEGATIVE_INFINITY) return '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const scientific = value.toExponential(16);
  const [mantissa, exponentText] = scientific.split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 17) {
    const digits = stripZeros(mantissa);
    const sign = exponent < 0 ? '-' : '+';
    const magnitude = String(Math.abs(exponent)).padStart(2, '0');
    return `${digits}e${sign}${magnitude}`;
  }
  return stripZeros(value.toFixed(16 - exponent));
}

function stripZeros(text: string): string {
  if (!text.includes('.')) return text;
  return text.replace(/0+$/, '').replace(/\.$/, '');
}
