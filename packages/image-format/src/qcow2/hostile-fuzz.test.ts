import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageError } from '../errors.js';
import { MemoryFile } from '../image-file.js';
import { memoryQcow2, openMemoryQcow2, pattern } from '../test-support/memory-chain.js';
import { Qcow2Image } from './image.js';
import { createSnapshot } from './snapshot.js';

/** A small image with data, zero and compressed clusters and a snapshot: every structure present. */
async function richImage(): Promise<Uint8Array> {
  const file = await memoryQcow2({ size: 256 * 1024, clusterSize: 4096 });
  const image = await openMemoryQcow2(file);
  await image.write(pattern(40000, 1), 5000);
  await image.writeZeroes(64 * 1024, 8192);
  await image.writeCompressed(new Uint8Array(4096).fill(9), 128 * 1024);
  await createSnapshot(image, 'snap');
  await image.write(pattern(9000, 2), 20000);
  await image.close();
  return file.contents();
}

/**
 * Whatever bytes of the metadata are damaged, opening, reading, writing and closing either
 * work or fail with an ImageError: never another exception, never a hang.
 */
describe('damaged images fail typed', () => {
  it('random byte damage in the metadata clusters', async () => {
    const pristine = await richImage();
    const metadataEnd = Math.min(pristine.length, 16 * 4096);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: metadataEnd - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.boolean(),
        async (damage, readOnly) => {
          const bytes = Uint8Array.from(pristine);
          for (const [at, value] of damage) bytes[at] = value;
          const file = new MemoryFile('damaged.qcow2', bytes);
          const attempt = async () => {
            const image = await Qcow2Image.open(file, { readOnly });
            try {
              const buf = new Uint8Array(image.virtualSize > 1 << 22 ? 1 << 22 : image.virtualSize);
              await image.read(buf, 0);
              await image.blockStatus(0, buf.length);
              if (!readOnly) {
                await image.write(pattern(6000, 3), 1000);
                await image.writeZeroes(0, 4096);
                await image.discard(8192, 8192);
              }
            } finally {
              await image.close();
            }
          };
          try {
            await attempt();
          } catch (e) {
            if (!(e instanceof ImageError)) throw e;
            expect(e.reason).toBeTypeOf('string');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
