import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DirtyBitmap, popcount32 } from './dirty-bitmap.js';
import { ImageError } from './errors.js';

/** The obvious model: one boolean per granule. */
class BooleanModel {
  readonly bits: boolean[];
  constructor(
    readonly granularity: number,
    readonly size: number,
  ) {
    this.bits = new Array<boolean>(Math.ceil(size / granularity)).fill(false);
  }
  apply(offset: number, length: number, value: boolean): void {
    const end = Math.min(this.size, offset + length);
    if (offset >= end) return;
    for (let g = Math.floor(offset / this.granularity); g < Math.ceil(end / this.granularity); g++) {
      this.bits[g] = value;
    }
  }
  extents(offset: number, end: number): { offset: number; length: number }[] {
    const out: { offset: number; length: number }[] = [];
    const stop = Math.min(end, this.size);
    for (let pos = offset; pos < stop; pos++) {
      if (!this.bits[Math.floor(pos / this.granularity)]) continue;
      const last = out.at(-1);
      if (last && last.offset + last.length === pos) last.length++;
      else out.push({ offset: pos, length: 1 });
    }
    return out;
  }
  serialize(first: number, count: number): Uint8Array {
    const out = new Uint8Array(Math.ceil(count / 8));
    for (let n = 0; n < count; n++) if (this.bits[first + n]) out[n >> 3]! |= 1 << (n & 7);
    return out;
  }
}

const granularities = fc.constantFrom(512, 1024, 4096);
const operation = (size: number) =>
  fc.record({
    kind: fc.constantFrom('set', 'reset'),
    offset: fc.nat({ max: size + 2048 }),
    length: fc.nat({ max: Math.max(1, size) }),
  });

const scenario = fc
  .tuple(granularities, fc.integer({ min: 0, max: 200 * 1024 }))
  .chain(([granularity, size]) =>
    fc.tuple(fc.constant(granularity), fc.constant(size), fc.array(operation(size), { maxLength: 25 })),
  );

function build(granularity: number, size: number, ops: { kind: string; offset: number; length: number }[]) {
  const bitmap = new DirtyBitmap({ granularity, size });
  const model = new BooleanModel(granularity, size);
  for (const op of ops) {
    if (op.kind === 'set') bitmap.set(op.offset, op.length);
    else bitmap.reset(op.offset, op.length);
    model.apply(op.offset, op.length, op.kind === 'set');
  }
  return { bitmap, model };
}

describe('DirtyBitmap against a boolean-array model', () => {
  it('agrees on get, count, extents and next dirty/clean after random set/reset sequences', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), ([granularity, size, ops], probeSeed) => {
        const { bitmap, model } = build(granularity, size, ops);
        const dirty = model.bits.filter(Boolean).length;
        expect(bitmap.dirtyGranuleCount()).toBe(dirty);
        expect(bitmap.count()).toBe(dirty * granularity);
        expect([...bitmap.extents()]).toEqual(model.extents(0, size));
        for (let g = 0; g < model.bits.length; g++) {
          expect(bitmap.get(g * granularity)).toBe(model.bits[g]);
        }
        const probe = size === 0 ? 0 : probeSeed % size;
        const expectDirty = model.bits.findIndex((b, g) => b && (g + 1) * granularity > probe);
        expect(bitmap.nextDirty(probe)).toBe(
          expectDirty < 0 ? -1 : Math.max(probe, expectDirty * granularity),
        );
        const expectClean = model.bits.findIndex((b, g) => !b && (g + 1) * granularity > probe);
        expect(bitmap.nextClean(probe)).toBe(
          expectClean < 0 ? -1 : Math.max(probe, expectClean * granularity),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('reports extents clipped to a sub-range', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), fc.nat(), ([granularity, size, ops], a, b) => {
        const { bitmap, model } = build(granularity, size, ops);
        const start = size === 0 ? 0 : a % size;
        const length = size === 0 ? 0 : b % (size - start + 1);
        expect([...bitmap.extents(start, length)]).toEqual(model.extents(start, start + length));
      }),
      { numRuns: 200 },
    );
  });

  it('serialises any granule range in qcow2 order and reads it back', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), fc.nat(), ([granularity, size, ops], a, b) => {
        const { bitmap, model } = build(granularity, size, ops);
        const total = bitmap.granuleCount;
        const first = total === 0 ? 0 : a % total;
        const count = b % (total - first + 1);
        const bytes = bitmap.serialize(first, count);
        expect(bytes).toEqual(model.serialize(first, count));

        const target = new DirtyBitmap({ granularity, size });
        target.setAll();
        target.deserialize(bytes, first, count);
        for (let g = 0; g < total; g++) {
          const inside = g >= first && g < first + count;
          expect(target.get(g * granularity)).toBe(inside ? model.bits[g] : true);
        }
        const inRange = model.bits.slice(first, first + count);
        expect(bitmap.isGranuleRangeClear(first, count)).toBe(inRange.every((x) => !x));
        expect(bitmap.isGranuleRangeFull(first, count)).toBe(inRange.every((x) => x));
      }),
      { numRuns: 300 },
    );
  });

  it('merges as a bitwise OR and copies independently', () => {
    fc.assert(
      fc.property(
        granularities,
        fc.integer({ min: 1, max: 100 * 1024 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8192 }), fc.boolean()), { maxLength: 20 }),
        (granularity, size, writes) => {
          const left = new DirtyBitmap({ granularity, size });
          const right = new DirtyBitmap({ granularity, size });
          for (const [offset, length, toLeft] of writes) (toLeft ? left : right).set(offset % size, length);
          const expected = new BooleanModel(granularity, size);
          for (let g = 0; g < expected.bits.length; g++) {
            expected.bits[g] = left.get(g * granularity) || right.get(g * granularity);
          }
          const copy = left.copy();
          left.merge(right);
          expect([...left.extents()]).toEqual(expected.extents(0, size));
          expect(left.dirtyGranuleCount()).toBe(expected.bits.filter(Boolean).length);
          copy.clear();
          expect(copy.dirtyGranuleCount()).toBe(0);
          expect([...left.extents()]).toEqual(expected.extents(0, size));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('DirtyBitmap', () => {
  it('uses the LSB-first order QEMU writes (granules 3 and 16 give 08 00 01)', () => {
    const bitmap = new DirtyBitmap({ granularity: 65536, size: 1 << 30 });
    bitmap.set(3 * 65536, 1);
    bitmap.set(16 * 65536, 65536);
    expect([...bitmap.serialize(0, 24)]).toEqual([0x08, 0x00, 0x01]);
  });

  it('counts a dirty partial last granule in full, as QEMU reports it', () => {
    // qemu-storage-daemon reports count 65536 for a 131584-byte disk with its last 512 bytes written.
    const bitmap = new DirtyBitmap({ granularity: 65536, size: 131584 });
    bitmap.set(131072, 512);
    expect(bitmap.count()).toBe(65536);
    expect([...bitmap.extents()]).toEqual([{ offset: 131072, length: 512 }]);
  });

  it('keeps zero tail bits when the granule count is not a multiple of 8', () => {
    const bitmap = new DirtyBitmap({ granularity: 512, size: 512 * 5 });
    bitmap.setAll();
    expect([...bitmap.serialize(0, 5)]).toEqual([0x1f]);
    expect(bitmap.count()).toBe(5 * 512);
  });

  it('handles large ranges a word at a time', () => {
    const size = 2 ** 40; // 1 TiB at 64 KiB granules: 16 Mi bits
    const bitmap = new DirtyBitmap({ granularity: 65536, size });
    bitmap.set(65536 * 7, size);
    expect(bitmap.count()).toBe(size - 7 * 65536);
    bitmap.reset(2 ** 39, 2 ** 38);
    expect([...bitmap.extents()]).toEqual([
      { offset: 7 * 65536, length: 2 ** 39 - 7 * 65536 },
      { offset: 2 ** 39 + 2 ** 38, length: 2 ** 38 },
    ]);
    expect(bitmap.nextClean(7 * 65536)).toBe(2 ** 39);
  });

  it('follows resizes and forgets bits cut off by a shrink', () => {
    const bitmap = new DirtyBitmap({ granularity: 512, size: 4096 });
    bitmap.setAll();
    bitmap.resize(1024);
    expect(bitmap.count()).toBe(1024);
    bitmap.resize(8192);
    expect([...bitmap.extents()]).toEqual([{ offset: 0, length: 1024 }]);
    expect(bitmap.count()).toBe(1024);
  });

  it('refuses invalid granularities, sizes, ranges and merges with a typed error', () => {
    for (const granularity of [0, 256, 1000, 2 ** 32, 1.5]) {
      expect(() => new DirtyBitmap({ granularity, size: 1 })).toThrow(ImageError);
    }
    expect(() => new DirtyBitmap({ granularity: 512, size: -1 })).toThrow(ImageError);
    const bitmap = new DirtyBitmap({ granularity: 512, size: 4096 });
    expect(() => bitmap.set(-1, 1)).toThrow(ImageError);
    expect(() => bitmap.serialize(4, 5)).toThrow(ImageError);
    expect(() => bitmap.merge(new DirtyBitmap({ granularity: 1024, size: 4096 }))).toThrow(ImageError);
    expect(bitmap.count()).toBe(0);
  });

  it('computes popcount per word', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (word) => {
        expect(popcount32(word)).toBe(
          word
            .toString(2)
            .split('')
            .filter((c) => c === '1').length,
        );
      }),
    );
  });
});
