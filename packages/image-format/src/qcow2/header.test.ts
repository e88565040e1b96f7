import { describe, expect, it } from 'vitest';
import { ImageError } from '../errors.js';
import { AUTOCLEAR_BITMAPS, EXT_BITMAPS } from './constants.js';
import {
  type Qcow2Header,
  checkHeaderAgainstFile,
  describeFeatures,
  parseHeader,
  serializeHeader,
} from './header.js';

function baseHeader(overrides: Partial<Qcow2Header> = {}): Qcow2Header {
  return {
    version: 3,
    backingFileOffset: 0,
    backingFileSize: 0,
    clusterBits: 16,
    size: 1 << 30,
    cryptMethod: 0,
    l1Size: 2,
    l1TableOffset: 3 << 16,
    refcountTableOffset: 1 << 16,
    refcountTableClusters: 1,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: 112,
    compressionType: 0,
    unknownHeaderFields: new Uint8Array(0),
    backingFile: null,
    backingFormat: null,
    dataFile: null,
    featureNames: [],
    bitmaps: null,
    cryptoHeader: null,
    unknownExtensions: [],
    ...overrides,
  };
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ImageError) return e.reason;
    throw e;
  }
  return 'no error';
}

describe('qcow2 header', () => {
  it('round-trips a v3 header with backing file, unknown fields and unknown extensions', () => {
    const h = baseHeader({
      backingFile: 'base.qcow2',
      backingFormat: 'qcow2',
      unknownHeaderFields: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      unknownExtensions: [{ type: 0x12345678, data: Uint8Array.of(9, 9, 9) }],
    });
    const bytes = serializeHeader(h);
    const back = parseHeader(bytes);
    expect(back.backingFile).toBe('base.qcow2');
    expect(back.backingFormat).toBe('qcow2');
    expect(back.headerLength).toBe(120);
    expect([...back.unknownHeaderFields]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(back.unknownExtensions).toEqual([{ type: 0x12345678, data: Uint8Array.of(9, 9, 9) }]);
    expect(back.featureNames.map((f) => f.name)).toContain('lazy refcounts');
    // The backing name follows the end marker directly.
    expect(back.backingFileOffset).toBe(h.backingFileOffset);
    expect(serializeHeader(back)).toEqual(bytes);
  });

  it('writes the feature table only for v3 images with clusters above 4 KiB', () => {
    expect(parseHeader(serializeHeader(baseHeader({ clusterBits: 12, l1Size: 512 }))).featureNames).toEqual(
      [],
    );
    expect(
      parseHeader(serializeHeader(baseHeader({ clusterBits: 13, l1Size: 128 }))).featureNames,
    ).toHaveLength(8);
    expect(parseHeader(serializeHeader(baseHeader({ version: 2 }))).featureNames).toEqual([]);
  });

  it('keeps the bitmaps extension only when autoclear bit 0 is set', () => {
    const bitmaps = {
      nbBitmaps: 1,
      reserved: 0,
      directorySize: 32,
      directoryOffset: 5 << 16,
      raw: new Uint8Array(24),
    };
    const withBit = parseHeader(
      serializeHeader(baseHeader({ bitmaps, autoclearFeatures: AUTOCLEAR_BITMAPS })),
    );
    expect(withBit.bitmaps?.directoryOffset).toBe(5 << 16);
    const without = parseHeader(serializeHeader(baseHeader({ bitmaps })));
    expect(without.bitmaps).toBeNull();
    expect(without.unknownExtensions.some((e) => e.type === EXT_BITMAPS)).toBe(false);
  });

  it('rejects hostile headers with the right reason', () => {
    const good = serializeHeader(baseHeader());
    const mutate = (f: (v: DataView) => void) => {
      const b = Uint8Array.from(good);
      f(new DataView(b.buffer));
      return b;
    };
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(0, 0x12345678))))).toBe('bad-magic');
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(4, 4))))).toBe('unsupported-version');
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(20, 30))))).toBe('corrupt');
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(32, 1))))).toBe('encrypted');
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(36, 0x1000000))))).toBe('too-large');
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(36, 1))))).toBe('corrupt');
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(56, 1000))))).toBe('too-large');
    expect(reason(() => parseHeader(mutate((v) => v.setBigUint64(40, 12345n))))).toBe('corrupt');
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(96, 7))))).toBe('corrupt');
    expect(reason(() => parseHeader(mutate((v) => v.setUint32(100, 1 << 20))))).toBe('too-large');
    expect(reason(() => parseHeader(mutate((v) => v.setBigUint64(24, 1n << 62n))))).toBe('too-large');
    // An extension whose length runs past cluster 0.
    const longExtension = mutate((v) => {
      v.setUint32(112, 0x11111111);
      v.setUint32(116, 0x7fffffff);
    });
    expect(reason(() => parseHeader(longExtension))).toBe('too-large');
    expect(reason(() => parseHeader(good.subarray(0, 50)))).toBe('truncated');
    expect(reason(() => parseHeader(good.subarray(0, 200)))).toBe('truncated');
    const h = parseHeader(good);
    expect(reason(() => checkHeaderAgainstFile(h, 3 << 16))).toBe('corrupt');
    expect(reason(() => checkHeaderAgainstFile(h, (3 << 16) + 16))).toBe('no error');
  });

  it('names features from the image table, and unknown ones by value', () => {
    const h = parseHeader(serializeHeader(baseHeader()));
    expect(describeFeatures(h, 'incompatible', (1n << 4n) | (1n << 9n))).toBe(
      'extended L2 entries, Unknown incompatible feature: 200',
    );
  });
});
