import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageError } from '../errors.js';
import { MemoryFile } from '../image-file.js';
import { PersistentBitmaps } from './bitmaps.js';
import { checkImage } from './check.js';
import { AppendingBitmapHost } from './test-support/bitmap-host.js';
import { freshImage } from './test-support/fresh-image.js';

async function session<T>(
  file: MemoryFile,
  body: (bitmaps: PersistentBitmaps) => Promise<T> | T,
  close = true,
): Promise<T> {
  const bitmaps = await PersistentBitmaps.open(await AppendingBitmapHost.over(file));
  const result = await body(bitmaps);
  if (close) await bitmaps.close();
  return result;
}

async function expectClean(file: MemoryFile): Promise<void> {
  const result = await checkImage(file);
  expect(result.messages).toEqual([]);
  expect(result.leaks + result.corruptions + result.checkErrors).toBe(0);
}

const bitmapSpec = fc.record({
  granularityBits: fc.integer({ min: 9, max: 20 }),
  disabled: fc.boolean(),
  ranges: fc.array(fc.tuple(fc.nat({ max: 2 ** 26 }), fc.nat({ max: 2 ** 22 })), { maxLength: 6 }),
  full: fc.boolean(),
});

describe('PersistentBitmaps on an in-memory image', () => {
  it('the fixture image is clean', async () => {
    await expectClean(freshImage(2 ** 26));
  });

  it('stores any set of bitmaps and reads them back bit for bit, without leaking clusters', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), bitmapSpec), {
          selector: ([name]) => name,
          maxLength: 5,
        }),
        fc.integer({ min: 1, max: 2 ** 26 / 512 }),
        fc.constantFrom(12, 16),
        async (specs, sectors, clusterBits) => {
          const file = freshImage(sectors * 512, clusterBits);
          const expected = await session(file, (b) =>
            specs.map(([name, spec]) => {
              const bitmap = b.add(name, {
                persistent: true,
                granularity: 2 ** spec.granularityBits,
                disabled: spec.disabled,
              });
              if (spec.full) bitmap.setAll();
              for (const [offset, length] of spec.ranges) bitmap.set(offset, length);
              return { name, extents: [...bitmap.extents()], recording: !spec.disabled };
            }),
          );
          await expectClean(file);
          // A read-write session marks them in use and stores them again (new clusters, old ones freed).
          await session(file, (b) => {
            for (const { name, extents, recording } of expected) {
              expect([...b.get(name).extents()]).toEqual(extents);
              expect(b.list().find((i) => i.name === name)?.recording).toBe(recording);
            }
          });
          await expectClean(file);
          const again = await session(file, (b) => b.list().map((i) => [i.name, i.flags]));
          expect(again).toEqual(expected.map((e) => [e.name, e.recording ? ['auto'] : []]));
          await expectClean(file);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('marks bitmaps in use at a read-write open, so an unclean close leaves them inconsistent', async () => {
    const file = freshImage(2 ** 24);
    await session(file, (b) => {
      b.add('keep', { persistent: true }).set(0, 1);
    });
    await session(file, () => undefined, false);
    await session(file, async (b) => {
      expect(b.list()).toEqual([
        {
          name: 'keep',
          granularity: 65536,
          persistent: true,
          recording: true,
          inconsistent: true,
          count: 0,
          flags: ['in-use', 'auto'],
        },
      ]);
      expect(() => b.merge('keep', [])).toThrow(ImageError);
      expect(() => b.onGuestWrite(0, 512)).not.toThrow();
    });
    // Still inconsistent: closing keeps the stale entry as it was.
    await session(file, async (b) => {
      expect(b.list()[0]?.inconsistent).toBe(true);
      await b.remove('keep');
    });
    await expectClean(file);
    expect(await session(file, (b) => b.list())).toEqual([]);
  });

  it('keeps the in-memory bitmap authoritative while open, and records guest writes', async () => {
    const file = freshImage(2 ** 24);
    await session(file, (b) => {
      b.add('a', { persistent: true });
      b.add('off', { persistent: true, disabled: true });
      b.add('mem');
      b.onGuestWrite(4096, 100_000);
      b.disable('a');
      b.onGuestWrite(2 ** 23, 1);
      b.enable('off');
      b.onGuestWrite(2 ** 22, 1);
      b.merge('mem', ['a', 'off']);
      // 'mem' records every write itself, including the one only it saw (2^23).
      expect([...b.get('mem').extents()]).toEqual([
        { offset: 0, length: 131072 },
        { offset: 2 ** 22, length: 65536 },
        { offset: 2 ** 23, length: 65536 },
      ]);
    });
    await session(file, (b) => {
      expect(b.list().map((i) => i.name)).toEqual(['a', 'off']);
      expect([...b.get('a').extents()]).toEqual([{ offset: 0, length: 131072 }]);
      expect([...b.get('off').extents()]).toEqual([{ offset: 2 ** 22, length: 65536 }]);
      expect(b.list().map((i) => i.recording)).toEqual([false, true]);
    });
  });

  it('opens damaged directories and tables only with ImageError, and then changes nothing', async () => {
    const file = freshImage(2 ** 26, 12);
    await session(file, (b) => {
      b.add('a', { persistent: true }).set(0, 2 ** 20);
      b.add('b', { persistent: true, granularity: 512 }).setAll();
    });
    const host = await AppendingBitmapHost.over(file);
    const location = host.bitmapsExtension;
    if (!location) throw new Error('no bitmaps stored');
    const pristine = file.contents();
    // The directory cluster and the clusters after it (tables and data were written before it).
    const start = location.directoryOffset - 8 * 4096;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: 9 * 4096 - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        async (flips) => {
          const damaged = Uint8Array.from(pristine);
          for (const [at, value] of flips) damaged[start + at] = value;
          const copy = new MemoryFile('damaged.qcow2', damaged);
          try {
            const bitmaps = await PersistentBitmaps.open(await AppendingBitmapHost.over(copy));
            expect(bitmaps.list().length).toBe(2);
          } catch (error) {
            expect(error).toBeInstanceOf(ImageError);
            expect(Buffer.compare(copy.contents(), damaged)).toBe(0);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads an all-ones table entry as a fully dirty cluster of bits', async () => {
    const file = freshImage(2 ** 26, 12);
    await session(file, (b) => {
      b.add('ones', { persistent: true, granularity: 512 }).set(0, 1);
    });
    const host = await AppendingBitmapHost.over(file);
    const location = host.bitmapsExtension;
    if (!location) throw new Error('no bitmaps stored');
    const entry = new Uint8Array(8);
    await file.read(entry, location.directoryOffset);
    const tableOffset = Number(new DataView(entry.buffer).getBigUint64(0));
    // Entry 1 (bits for the second 4 KiB of bitmap data = 16 MiB of disk) becomes "all ones".
    const one = new Uint8Array(8);
    one[7] = 1;
    await file.write(one, tableOffset + 8);
    await session(
      file,
      (b) => {
        expect([...b.get('ones').extents()]).toEqual([
          { offset: 0, length: 512 },
          { offset: 4096 * 8 * 512, length: 4096 * 8 * 512 },
        ]);
      },
      false,
    );
  });

  it('refuses persistent bitmaps on qcow2 v2 and unknown names with typed errors', async () => {
    const file = freshImage(2 ** 24);
    await session(file, (b) => {
      expect(() => b.get('nope')).toThrow(expect.objectContaining({ reason: 'not-found' }));
      expect(() => b.merge('nope', [])).toThrow(ImageError);
    });
    const closed = await PersistentBitmaps.open(await AppendingBitmapHost.over(file));
    await closed.close();
    expect(() => closed.add('late')).toThrow(expect.objectContaining({ reason: 'closed' }));
  });
});
