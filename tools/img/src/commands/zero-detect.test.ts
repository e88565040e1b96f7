import { describe, expect, it } from 'vitest';
import { isAllZero, zeroRuns } from './zero-detect.js';

describe('zero detection', () => {
  it('finds non-zero bytes anywhere, also in views at odd offsets', () => {
    const buf = new Uint8Array(5 * 1024 * 1024 + 3);
    expect(isAllZero(buf)).toBe(true);
    buf[buf.length - 1] = 1;
    expect(isAllZero(buf)).toBe(false);
    expect(isAllZero(buf.subarray(1, buf.length - 1))).toBe(true);
  });

  it('splits into aligned runs of zero and data blocks', () => {
    const buf = new Uint8Array(16384);
    buf.fill(7, 4096, 5000);
    buf.fill(7, 12288, 12289);
    expect([...zeroRuns(buf, 0, 4096)]).toEqual([
      { start: 0, length: 4096, zero: true },
      { start: 4096, length: 4096, zero: false },
      { start: 8192, length: 4096, zero: true },
      { start: 12288, length: 4096, zero: false },
    ]);
    // Blocks follow the guest offset's alignment, not the buffer's start.
    expect([...zeroRuns(buf.subarray(2048), 2048, 4096)][0]).toEqual({ start: 0, length: 2048, zero: true });
  });

  it('reports an all-zero buffer as one run', () => {
    expect([...zeroRuns(new Uint8Array(10000), 0, 4096)]).toEqual([{ start: 0, length: 10000, zero: true }]);
  });
});
