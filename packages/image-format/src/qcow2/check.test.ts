import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ImageError } from '../errors.js';
import { MemoryFile } from '../image-file.js';
import { checkImage } from './check.js';
import { checkExitCode, formatCheckReport, toImageCheckJson } from './check-result.js';
import { createQcow2 } from './create.js';
import { Qcow2Image } from './image.js';
import { createSnapshot } from './snapshot.js';

/** An image with data, a snapshot, a later write and a persistent bitmap, made by Strata in memory. */
async function buildImage(clusterSize: number): Promise<Uint8Array> {
  const file = new MemoryFile('made.qcow2');
  await createQcow2(file, { size: 8 * 2 ** 20, clusterSize });
  const image = await Qcow2Image.open(file);
  await image.write(new Uint8Array(3 * clusterSize).fill(1), 0);
  await image.write(new Uint8Array(clusterSize).fill(2), 4 * 2 ** 20);
  await createSnapshot(image, 'snap');
  await image.write(new Uint8Array(clusterSize).fill(3), clusterSize);
  image.bitmaps?.add('b', { persistent: true }).set(0, 2 ** 20);
  await image.close();
  return file.contents();
}

/** The guest-visible contents (first 8 MiB) of an image file. */
async function readGuest(file: MemoryFile): Promise<Uint8Array> {
  const image = await Qcow2Image.open(new MemoryFile('copy', file.contents(), true));
  const out = new Uint8Array(8 * 2 ** 20);
  await image.read(out, 0);
  await image.close();
  return out;
}

let images: Map<number, Uint8Array>;
beforeAll(async () => {
  images = new Map();
  for (const cs of [512, 4096, 65536]) images.set(cs, await buildImage(cs));
});

describe('checkImage', () => {
  it('finds nothing wrong with images Strata wrote', async () => {
    for (const [cs, bytes] of images) {
      const result = await checkImage(new MemoryFile('x', bytes));
      expect(result.messages, `cluster ${cs}`).toEqual([]);
      expect(checkExitCode(result)).toBe(0);
      expect(result.allocatedClusters).toBeGreaterThan(0);
      expect(formatCheckReport(result)).toContain('No errors were found on the image.');
    }
  });

  it('never throws anything but ImageError, and never writes, on randomly damaged metadata', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(512, 4096, 65536),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        async (cs, flips) => {
          const original = images.get(cs) as Uint8Array;
          const damaged = Uint8Array.from(original);
          // Aim at the metadata-heavy start of the file (header, tables) most of the time.
          const span = Math.min(damaged.length, 8 * cs);
          for (const [at, value] of flips) damaged[at % span] = value;
          const file = new MemoryFile('damaged.qcow2', damaged);
          try {
            const result = await checkImage(file);
            expect(toImageCheckJson(result).format).toBe('qcow2');
          } catch (error) {
            if (!(error instanceof ImageError)) throw error;
          }
          expect(Buffer.compare(file.contents(), damaged)).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('repairs whatever it reports as fixed, and a second check agrees', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(4096, 65536),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        async (cs, flips) => {
          const damaged = Uint8Array.from(images.get(cs) as Uint8Array);
          const span = Math.min(damaged.length, 8 * cs);
          for (const [at, value] of flips) damaged[at % span] = value;
          const file = new MemoryFile('damaged.qcow2', damaged);
          let repaired: Awaited<ReturnType<typeof checkImage>>;
          try {
            repaired = await checkImage(file, { repair: 'all' });
          } catch (error) {
            if (!(error instanceof ImageError)) throw error;
            return;
          }
          const again = await checkImage(file);
          expect(again.leaks).toBe(repaired.leaks);
          expect(again.corruptions).toBe(repaired.corruptions);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('rebuilds a refcount structure whose only block was lost, keeping the guest data', async () => {
    const file = new MemoryFile('lost.qcow2', images.get(65536));
    const before = await readGuest(file);
    // Drop the pointer to refcount block 0: every cluster now has refcount 0.
    const header = new Uint8Array(8);
    await file.read(header, 48);
    await file.write(new Uint8Array(8), Number(new DataView(header.buffer).getBigUint64(0)));

    const plain = await checkImage(file);
    expect(plain.corruptions).toBeGreaterThan(0);
    const leaksOnly = await checkImage(file, { repair: 'leaks' });
    expect(leaksOnly.failure).toBeDefined();
    expect(leaksOnly.messages).toContain('ERROR need to rebuild refcount structures');

    const repaired = await checkImage(file, { repair: 'all' });
    expect(repaired.messages).toContain('Rebuilding refcount structure');
    expect(checkExitCode(repaired)).toBe(0);
    // Wrong COPIED flags that the new refcounts make right again are not counted as fixed.
    expect(repaired.corruptionsFixed).toBeGreaterThan(0);
    expect(repaired.corruptionsFixed).toBeLessThanOrEqual(plain.corruptions);
    const after = await checkImage(file);
    expect(after.messages).toEqual([]);
    expect(Buffer.compare(await readGuest(file), before)).toBe(0);
  });

  it('refuses to repair a read-only file', async () => {
    const file = new MemoryFile('ro.qcow2', images.get(65536), true);
    await expect(checkImage(file, { repair: 'leaks' })).rejects.toMatchObject({ reason: 'read-only' });
  });
});
