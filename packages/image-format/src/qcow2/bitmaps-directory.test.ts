import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageError } from '../errors.js';
import {
  BME_FLAG_AUTO,
  BME_FLAG_IN_USE,
  type BitmapDirectoryEntry,
  bitmapTableEntries,
  decodeBitmapTableEntry,
  parseBitmapDirectory,
  serializeBitmapDirectory,
} from './bitmaps-directory.js';

const context = { clusterSize: 65536, virtualSize: 2 ** 30, fileSize: 2 ** 32 };

const entry: fc.Arbitrary<BitmapDirectoryEntry> = fc.record({
  name: fc.string({ minLength: 1, maxLength: 40 }),
  tableOffset: fc.integer({ min: 1, max: 1000 }).map((c) => c * 65536),
  tableSize: fc.integer({ min: 1, max: 8 }),
  flags: fc.constantFrom(0, BME_FLAG_AUTO, BME_FLAG_IN_USE | BME_FLAG_AUTO),
  type: fc.constant(1),
  granularityBits: fc.integer({ min: 16, max: 31 }),
  extraData: fc.constant(new Uint8Array(0)),
});

describe('bitmap directory', () => {
  it('round-trips any valid directory', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(entry, { selector: (e) => e.name, minLength: 1, maxLength: 10 }),
        (entries) => {
          const bytes = serializeBitmapDirectory(entries);
          expect(bytes.length % 8).toBe(0);
          expect(parseBitmapDirectory(bytes, entries.length, context)).toEqual(entries);
        },
      ),
    );
  });

  it('lays an entry out as the spec says (24 fixed bytes, name, zero padding to 8)', () => {
    const bytes = serializeBitmapDirectory([
      {
        name: 'b0',
        tableOffset: 0x50000,
        tableSize: 1,
        flags: 2,
        type: 1,
        granularityBits: 16,
        extraData: new Uint8Array(0),
      },
    ]);
    expect([...bytes]).toEqual([
      0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 1, 16, 0, 2, 0, 0, 0, 0, 0x62, 0x30, 0, 0, 0, 0, 0, 0,
    ]);
  });

  it('gives only typed errors for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 70000 }), (bytes, count) => {
        try {
          parseBitmapDirectory(bytes, count, context);
        } catch (error) {
          expect(error).toBeInstanceOf(ImageError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a name that starts with a byte order mark byte for byte', () => {
    const name = '\ufeffbom';
    const one: BitmapDirectoryEntry = {
      name,
      tableOffset: 65536,
      tableSize: 1,
      flags: 0,
      type: 1,
      granularityBits: 16,
      extraData: new Uint8Array(0),
    };
    const bytes = serializeBitmapDirectory([one]);
    const [parsed] = parseBitmapDirectory(bytes, 1, context);
    expect(parsed?.name).toBe(name);
    expect(serializeBitmapDirectory(parsed ? [parsed] : [])).toEqual(bytes);
  });

  it('refuses duplicate names and a count that does not match', () => {
    const one: BitmapDirectoryEntry = {
      name: 'x',
      tableOffset: 65536,
      tableSize: 1,
      flags: 0,
      type: 1,
      granularityBits: 16,
      extraData: new Uint8Array(0),
    };
    const twice = serializeBitmapDirectory([one, one]);
    expect(() => parseBitmapDirectory(twice, 2, context)).toThrow(/used twice/);
    expect(() => parseBitmapDirectory(twice, 1, context)).toThrow(/More bitmaps/);
    expect(() => parseBitmapDirectory(serializeBitmapDirectory([one]), 2, context)).toThrow(/Less bitmaps/);
  });

  it('decodes bitmap table entries: zeros, ones, data, and invalid ones', () => {
    expect(decodeBitmapTableEntry(0n, 65536)).toEqual({ kind: 'zeros' });
    expect(decodeBitmapTableEntry(1n, 65536)).toEqual({ kind: 'ones' });
    expect(decodeBitmapTableEntry(0x30000n, 65536)).toEqual({ kind: 'data', offset: 0x30000 });
    expect(typeof decodeBitmapTableEntry(0x30001n, 65536)).toBe('string');
    expect(typeof decodeBitmapTableEntry(0x30200n, 65536)).toBe('string');
    expect(typeof decodeBitmapTableEntry(1n << 60n, 65536)).toBe('string');
  });

  it('sizes tables as QEMU does', () => {
    expect(bitmapTableEntries(2 ** 30, 16, 65536)).toBe(1);
    expect(bitmapTableEntries(2 ** 32, 9, 65536)).toBe(16);
    expect(bitmapTableEntries(2 ** 32 + 512, 9, 65536)).toBe(17);
  });
});
