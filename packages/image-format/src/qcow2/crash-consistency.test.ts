import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryFile } from '../image-file.js';
import { CrashRecordingFile } from '../test-support/crash-file.js';
import { memoryQcow2, openMemoryQcow2, pattern } from '../test-support/memory-chain.js';
import { checkImage } from './check.js';
import { Qcow2Image } from './image.js';
import { applySnapshot, createSnapshot, deleteSnapshot } from './snapshot.js';

/**
 * What a crashed image may show besides leaks: COPIED flags that are clear although the
 * refcount is 1 (too cautious: the next write copies needlessly; `check -r all` fixes them).
 * A COPIED flag set on a shared cluster, or any other error, would be real damage.
 */
function harmful(check: { messages: string[] }): string[] {
  return check.messages.filter((m) => {
    if (!m.startsWith('ERROR')) return false;
    const copied =
      /^ERROR OFLAG_COPIED (?:data|L2) cluster: .*?(?:l2_entry|l1_entry)=([0-9a-f]+) refcount=(\d+)$/.exec(m);
    if (copied && (BigInt(`0x${copied[1]}`) & (1n << 63n)) === 0n && copied[2] === '1') return false;
    return true;
  });
}

/**
 * Crash consistency: after a crash at any instant (with any subset of the writes issued
 * since the last flush reaching the disk), the image has no harmful inconsistency (leaks and
 * over-cautious COPIED flags are allowed) and every guest write acknowledged by a completed
 * flush reads back.
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
            expect(harmful(check)).toEqual([]);
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

  it('a crash anywhere while reverting to or deleting a snapshot leaves no corruption', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(512, 4096),
        fc.nat(),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.nat()), {
          minLength: 4,
          maxLength: 8,
        }),
        async (clusterSize, seed, crashes) => {
          const created = await memoryQcow2({ size: 128 * 1024, clusterSize });
          const file = new CrashRecordingFile('snap.qcow2', created.contents());
          const image = await Qcow2Image.open(file);
          await image.write(pattern(50000, seed), 1000);
          await createSnapshot(image, 'a');
          await image.write(pattern(30000, seed + 1), 20000);
          await image.writeZeroes(60000, 20000, { mayUnmap: true });
          await createSnapshot(image, 'b');
          await image.write(pattern(10000, seed + 2), 90000);
          await image.flush();
          const from = file.events.length;
          await applySnapshot(image, 'a');
          await deleteSnapshot(image, 'b');
          await image.close();
          const events = file.events.length;
          for (const [where, keepSeed] of crashes) {
            const at = from + Math.floor(where * (events - 1 - from));
            const state = file.crashState(at, (i) => ((i * 2654435761) ^ keepSeed) % 2 === 0);
            const check = await checkImage(new MemoryFile('crashed', state));
            expect({ harmful: harmful(check), errors: check.checkErrors }).toEqual({
              harmful: [],
              errors: 0,
            });
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('at every instant of taking, reverting to and deleting snapshots', async () => {
    for (const clusterSize of [512, 4096]) {
      const created = await memoryQcow2({ size: 128 * 1024, clusterSize });
      const file = new CrashRecordingFile('every.qcow2', created.contents());
      const image = await Qcow2Image.open(file);
      await image.write(pattern(50000, 1), 1000);
      await image.flush();
      const from = file.events.length;
      await createSnapshot(image, 'a');
      await image.write(pattern(30000, 2), 20000);
      await createSnapshot(image, 'b');
      await applySnapshot(image, 'a');
      await deleteSnapshot(image, 'a');
      await image.close();
      for (let at = from; at < file.events.length; at++) {
        for (const keep of [() => true, () => false, (i: number) => i % 2 === 0]) {
          const check = await checkImage(new MemoryFile('crashed', file.crashState(at, keep)));
          expect({ at, harmful: harmful(check), errors: check.checkErrors }).toEqual({
            at,
            harmful: [],
            errors: 0,
          });
        }
      }
    }
  });
});
