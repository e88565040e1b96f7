/** Why a size string was refused, so callers can word the message as qemu-img does. */
export type SizeProblem = 'invalid' | 'range';

/** The outcome of {@link parseSize}: a byte count or the reason it is not one. */
export type SizeResult = { ok: true; bytes: number } | { ok: false; problem: SizeProblem };

const UNIT_SHIFT: Record<string, number> = { B: 0, K: 10, M: 20, G: 30, T: 40, P: 50, E: 60 };
/** The largest size QEMU accepts (INT64_MAX). Beyond 2^53 numbers lose precision; QEMU refuses those images anyway. */
export const MAX_SIZE = 2 ** 63 - 1;

/**
 * Parses a size the way qemu-img does: a decimal number (a fraction only with a unit), or a
 * `0x` hexadecimal number without unit, followed by an optional unit `b`, `k`, `M`, `G`, `T`, `P`
 * or `E` (case-insensitive, powers of 1024). `defaultUnit` applies when none is given (bytes for
 * image sizes; qemu-io's offsets use bytes too).
 */
export function parseSize(text: string, defaultUnit = 'B'): SizeResult {
  const match = /^(0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?)([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (!match) return { ok: false, problem: 'invalid' };
  const [, number = '', unitLetter = ''] = match;
  const isHex = /^0x/i.test(number);
  if (isHex && unitLetter !== '') return { ok: false, problem: 'invalid' };
  const hasFraction = number.includes('.');
  if (hasFraction && unitLetter === '') return { ok: false, problem: 'invalid' };
  const shift = UNIT_SHIFT[(unitLetter || defaultUnit).toUpperCase()] ?? 0;
  if (hasFraction && shift === 0) return { ok: false, problem: 'invalid' };
  let bytes: number;
  if (isHex) {
    const big = BigInt(number);
    if (big > BigInt(MAX_SIZE)) return { ok: false, problem: 'range' };
    bytes = Number(big);
  } else if (hasFraction) {
    bytes = Math.floor(Number.parseFloat(number) * 2 ** shift);
  } else {
    const big = BigInt(number) << BigInt(shift);
    if (big > BigInt(MAX_SIZE)) return { ok: false, problem: 'range' };
    bytes = Number(big);
  }
  if (!Number.isFinite(bytes) || bytes > MAX_SIZE) return { ok: false, problem: 'range' };
  return { ok: true, bytes };
}

/**
 * qemu-img's cvtnum(): parses a size or throws the two-line message qemu-img prints for `what`
 * (e.g. "image size"). The thrown value carries each line separately so the caller can prefix
 * every line with the tool name, as qemu-img does.
 */
export function sizeOrMessage(what: string, text: string): { bytes: number } | { lines: string[] } {
  const result = parseSize(text);
  if (result.ok) return { bytes: result.bytes };
  if (result.problem === 'range') {
    return { lines: [`Invalid ${what} specified. Must be between 0 and ${MAX_SIZE_TEXT}.`] };
  }
  return {
    lines: [
      `Invalid ${what} specified. You may use k, M, G, T, P or E suffixes for`,
      'kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.',
    ],
  };
}

const MAX_SIZE_TEXT = '9223372036854775807';
