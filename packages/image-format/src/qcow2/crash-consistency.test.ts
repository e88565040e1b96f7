import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryFile } from '../image-file.js';
import { CrashRecordingFile } from '../test-support/crash-file.js';
import { memoryQcow2, openMemoryQcow2, pattern } from '../test-support/memory-chain.js';
import { checkImage } from './check.js';
import { Qcow2Image } from './image.js';
import { createSnapshot, deleteSnapshot } from './snapshot.js';

/**
 * Crash consistency: after a crash at any instant (with any subset of the writes issued
 * since the last flush reaching the disk), the image has no corruption (leaks are allowed)
 * and every guest write acknowledged by a completed flush reads back.
 */
describe('qcow2 metadata ordering survives crashes', () => {
  it('at random instants with random subsets of unflushed writes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(512, 4096),
        fc.array(
          fc.array(fc.tuple(fc.integer({ min: 1, max: 9000 }), fc.nat()), { minLength: 1, maxLength: 4 }),
          {
            minLength: 2,
            maxLength: 5,
          },
        ),
        fc.boolean(),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.nat()), {
          minLength: 4,
          maxLength: 8,
        }),
        async (clusterSize, rounds, snapshotMidway, crashes) => {
          const size = 512 * 1024;
          const baseFile = await memoryQcow2({ size, clusterSize }, 'base.qcow2');
          const base = await openMemoryQcow2(baseFile);
          await base.write(new Uint8Array(size).fill(0xee), 0);
          await base.close();
          const created = await memoryQcow2(
            { size, clusterSize, backingFile: 'base.qcow2', backingFormat: 'qcow2' },
            'top.qcow2',
          );
          const file = new CrashRecordingFile('top.qcow2', created.contents());
          const image = await Qcow2Image.open(file, { backing: await openMemoryQcow2(baseFile) });
          // Rounds write disjoint byte ranges (which may share clusters, so COW must keep
          // earlier rounds' bytes); each round ends with a flush that acknowledges it.
          const acknowledged: Array<{ flushedAt: number; ranges: Array<[number, Uint8Array]> }> = [];
          let cursor = 1000;
          for (const [r, writes] of rounds.entries()) {
            const ranges: Array<[number, Uint8Array]> = [];
            for (const [length, seed] of writes) {
              const at = cursor % (size - length);
              cursor += length + ((seed % 3) * clusterSize) / 2;
              const data = pattern(length, seed + r);
              await image.write(data, at);
              ranges.push([at, data]);
            }
            if (snapshotMidway && r === 1) await createSnapshot(image, 'mid');
            if (snapshotMidway && r === 3) await deleteSnapshot(image, 'mid');
            await image.flush();
            acknowledged.push({ flushedAt: file.events.length - 1, ranges });
          }
          const events = file.events.length;
          for (const [where, seed] of crashes) {
            const at = Math.floor(where * (events - 1));
            const state = file.crashState(at, (i) => ((i * 2654435761) ^ seed) % 2 === 0);
            const check = await checkImage(new MemoryFile('crashed', state));
            expect(check.corruptions).toBe(0);
            expect(check.checkErrors).toBe(0);
            const crashed = await Qcow2Image.open(new MemoryFile('crashed', state, true), {
              readOnly: true,
              backing: await openMemoryQcow2(baseFile),
            });
            for (const round of acknowledged) {
              if (round.flushedAt > at) continue;
              for (const [offset, data] of round.ranges) {
                const back = new Uint8Array(data.length);
                await crashed.read(back, offset);
                expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
              }
            }
            await crashed.close();
          }
          await image.close();
        },
      ),
      { numRuns: 40 },
    );
  });
});
