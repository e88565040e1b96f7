/** Zeroes to compare against; comparisons are native memcmp, far faster than a JS loop. */
const ZEROES = Buffer.alloc(2 * 1024 * 1024);

/** Whether every byte of `buf` is zero. */
export function isAllZero(buf: Uint8Array): boolean {
  for (let at = 0; at < buf.length; at += ZEROES.length) {
    const length = Math.min(ZEROES.length, buf.length - at);
    const view = Buffer.from(buf.buffer, buf.byteOffset + at, length);
    if (view.compare(ZEROES, 0, length) !== 0) return false;
  }
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
  if (isAllZero(buf)) {
    yield { start: 0, length: buf.length, zero: true };
    return;
  }
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
