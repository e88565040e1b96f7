/** Whether every byte of `buf` is zero (checked eight bytes at a time when aligned). */
export function isAllZero(buf: Uint8Array): boolean {
  const words = buf.byteOffset % 8 === 0 ? Math.floor(buf.length / 8) : 0;
  if (words > 0) {
    const view = new BigUint64Array(buf.buffer, buf.byteOffset, words);
    for (let i = 0; i < words; i++) if (view[i] !== 0n) return false;
  }
  for (let i = words * 8; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Splits `buf` (guest bytes at `offset`) into runs that are entirely zero or not, on `granularity`
 * boundaries, so a copy can skip or write zeroes for the former (qemu-img convert's -S).
 */
export function* zeroRuns(
  buf: Uint8Array,
  offset: number,
  granularity: number,
): Generator<{ start: number; length: number; zero: boolean }> {
  let runStart = 0;
  let runZero: boolean | null = null;
  let pos = 0;
  while (pos < buf.length) {
    // Blocks are aligned to the guest offset so that runs line up with clusters.
    const next = Math.min(buf.length, pos + granularity - ((offset + pos) % granularity));
    const zero = isAllZero(buf.subarray(pos, next));
    if (runZero === null) runZero = zero;
    else if (zero !== runZero) {
      yield { start: runStart, length: pos - runStart, zero: runZero };
      runStart = pos;
      runZero = zero;
    }
    pos = next;
  }
  if (runZero !== null) yield { start: runStart, length: pos - runStart, zero: runZero };
}
