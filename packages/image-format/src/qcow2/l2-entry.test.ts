import { describe, expect, it } from 'vitest';
import {
  ClusterKind,
  classify,
  compressedClusters,
  compressedEntry,
  compressedLocation,
  entryOffset,
  isCopied,
  setEntry,
} from './l2-entry.js';

function split(entry: bigint): [number, number] {
  return [Number(entry >> 32n), Number(entry & 0xffffffffn)];
}

describe('L2 entries', () => {
  it('decodes the compressed descriptors qemu-img convert -c wrote (64 KiB clusters)', () => {
    const [hi, lo] = split(0x4000000000050000n);
    expect(classify(hi, lo, true)).toBe(ClusterKind.Compressed);
    expect(compressedLocation(hi, lo, 16)).toEqual({ offset: 0x50000, length: 512 });
    const [hi2, lo2] = split(0x40000000000500cen);
    expect(compressedLocation(hi2, lo2, 16)).toEqual({ offset: 0x500ce, length: 512 - 0xce });
  });

  it('round-trips compressed descriptors for every cluster size, spanning sectors', () => {
    for (let bits = 9; bits <= 21; bits++) {
      const offset = 3 * 2 ** bits + 77;
      const length = Math.min(2 ** bits - 100, 3000);
      const [hi, lo] = compressedEntry(offset, length, bits);
      const loc = compressedLocation(hi, lo, bits);
      expect(loc.offset).toBe(offset);
      // The descriptor names whole sectors: it covers the data and ends on a sector boundary.
      expect(loc.offset + loc.length).toBe(Math.ceil((offset + length) / 512) * 512);
      expect(isCopied(hi)).toBe(false);
      const [first, last] = compressedClusters(loc, bits);
      expect(first).toBe(3);
      expect(last).toBe(Math.floor((loc.offset + loc.length - 1) / 2 ** bits));
    }
  });

  it('tells plain zero, preallocated zero and normal clusters apart, and v2 ignores the zero bit', () => {
    const view = new DataView(new ArrayBuffer(32));
    setEntry(view, 0, 0, false, true);
    setEntry(view, 1, 0x12340000, true, true);
    setEntry(view, 2, 2 ** 40, true, false);
    const kinds = [0, 1, 2, 3].map((i) => classify(view.getUint32(i * 8), view.getUint32(i * 8 + 4), true));
    expect(kinds).toEqual([
      ClusterKind.ZeroPlain,
      ClusterKind.ZeroAlloc,
      ClusterKind.Normal,
      ClusterKind.Unallocated,
    ]);
    expect(classify(view.getUint32(8), view.getUint32(12), false)).toBe(ClusterKind.Normal);
    expect(entryOffset(view.getUint32(16), view.getUint32(20))).toBe(2 ** 40);
  });
});
