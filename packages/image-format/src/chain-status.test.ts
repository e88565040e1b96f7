import { describe, expect, it } from 'vitest';
import { type ChainMapEntry, toQemuImgMap } from './chain-status.js';

const data = (start: number, length: number, extra: Partial<ChainMapEntry> = {}): ChainMapEntry => ({
  start,
  length,
  depth: 0,
  present: true,
  zero: false,
  data: true,
  ...extra,
});

describe('toQemuImgMap', () => {
  it('drops compressed and merges neighbours that only differed by it, as qemu-img 7.2 prints them', () => {
    const map = [
      data(0, 4096, { compressed: true }),
      data(4096, 8192),
      data(12288, 4096, { offset: 65536 }),
      data(16384, 4096, { offset: 69632 }),
      data(20480, 4096, { compressed: true, depth: 1 }),
    ];
    expect(toQemuImgMap(map)).toEqual([
      data(0, 12288),
      data(12288, 8192, { offset: 65536 }),
      data(20480, 4096, { depth: 1 }),
    ]);
    // The input keeps its compressed flags.
    expect(map[0]?.compressed).toBe(true);
  });
});
