import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageDriver } from '../driver.js';
import { openImage } from '../open.js';
import { makeTempDir, mustRun, qemuMap, qemuReadRaw } from '../test-support/qemu.js';
import { createQcow2 } from './create.js';
import type { Qcow2Image } from './image.js';
import { applySnapshot, createSnapshot } from './snapshot.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-diff-');
  await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', tmp.path('base.qcow2'), '2M']);
  await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x61 0 2M', tmp.path('base.qcow2')]);
});
afterAll(() => tmp.cleanup());

/** One guest operation, as a qemu-io command and as a Strata call. */
type Step = [qemuIo: string, run: (image: ImageDriver) => Promise<void>];

const K = 1024;
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const STEPS: Step[] = [
  ['write -P 0x11 0 100k', (i) => i.write(fill(100 * K, 0x11), 0)],
  ['write -P 0x22 70k 3k', (i) => i.write(fill(3 * K, 0x22), 70 * K)],
  ['write -z 64k 64k', (i) => i.writeZeroes(64 * K, 64 * K)],
  ['write -z -u 0 64k', (i) => i.writeZeroes(0, 64 * K, { mayUnmap: true })],
  ['write -z 300k 200k', (i) => i.writeZeroes(300 * K, 200 * K)],
  ['write -z 1000k 1k', (i) => i.writeZeroes(1000 * K, K)],
  ['write -P 0x33 600k 300k', (i) => i.write(fill(300 * K, 0x33), 600 * K)],
  ['discard 640k 128k', (i) => i.discard(640 * K, 128 * K)],
  ['discard 1100k 100k', (i) => i.discard(1100 * K, 100 * K)],
  ['write -P 0x44 650k 10k', (i) => i.write(fill(10 * K, 0x44), 650 * K)],
  ['write -c -P 0x55 1536k 64k', (i) => (i as Qcow2Image).writeCompressed(fill(64 * K, 0x55), 1536 * K)],
  ['write -P 0x66 1560k 1k', (i) => i.write(fill(K, 0x66), 1560 * K)],
];

/** qemu-img map without host offsets (allocation order may differ; the layout of the guest view may not). */
function withoutOffsets(map: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const { offset: _o, ...entry } of map) {
    const last = out[out.length - 1];
    const same =
      last &&
      (last.start as number) + (last.length as number) === entry.start &&
      ['depth', 'present', 'zero', 'data'].every((k) => last[k] === entry[k]);
    if (same) last.length = (last.length as number) + (entry.length as number);
    else out.push({ ...entry });
  }
  return out;
}

describe('the same guest operations through qemu-io and through Strata', () => {
  it.each([
    ['v3', { compat: '1.1' as const }, false],
    ['v2', { compat: '0.10' as const }, false],
    ['v3 over a backing file', { compat: '1.1' as const }, true],
    ['v2 over a backing file', { compat: '0.10' as const }, true],
    ['v3, 4 KiB clusters, over a backing file', { compat: '1.1' as const, clusterSize: 4096 }, true],
  ])('%s: same guest data and same allocation map', async (name, options, withBacking) => {
    const slug = name.replace(/\W+/g, '-');
    const theirs = tmp.path(`${slug}-qemu.qcow2`);
    const ours = tmp.path(`${slug}-strata.qcow2`);
    const backing = withBacking ? { backingFile: 'base.qcow2', backingFormat: 'qcow2' as const } : {};
    await createQcow2(theirs, { size: 2 << 20, ...options, ...backing });
    await createQcow2(ours, { size: 2 << 20, ...options, ...backing });
    await mustRun('qemu-io', ['-f', 'qcow2', ...STEPS.flatMap(([cmd]) => ['-c', cmd]), theirs]);
    const image = await openImage(ours, { format: 'qcow2' });
    for (const [, run] of STEPS) await run(image);
    await image.close();
    const [a, b] = [
      await qemuReadRaw(theirs, 'qcow2', `${theirs}.raw`),
      await qemuReadRaw(ours, 'qcow2', `${ours}.raw`),
    ];
    expect(b.equals(a)).toBe(true);
    expect(withoutOffsets(await qemuMap(ours))).toEqual(withoutOffsets(await qemuMap(theirs)));
  });

  it('with an internal snapshot taken in the middle and reverted to at the end', async () => {
    const theirs = tmp.path('snap-qemu.qcow2');
    const ours = tmp.path('snap-strata.qcow2');
    await createQcow2(theirs, { size: 2 << 20, clusterSize: 4096 });
    await createQcow2(ours, { size: 2 << 20, clusterSize: 4096 });
    const first = STEPS.slice(0, 5);
    const second = STEPS.slice(5);
    await mustRun('qemu-io', ['-f', 'qcow2', ...first.flatMap(([cmd]) => ['-c', cmd]), theirs]);
    await mustRun('qemu-img', ['snapshot', '-c', 'mid', theirs]);
    await mustRun('qemu-io', ['-f', 'qcow2', ...second.flatMap(([cmd]) => ['-c', cmd]), theirs]);
    const image = (await openImage(ours, { format: 'qcow2' })) as Qcow2Image;
    for (const [, run] of first) await run(image);
    await createSnapshot(image, 'mid');
    for (const [, run] of second) await run(image);
    await image.close();
    const compare = async (label: string) => {
      const a = await qemuReadRaw(theirs, 'qcow2', `${theirs}.${label}.raw`);
      const b = await qemuReadRaw(ours, 'qcow2', `${ours}.${label}.raw`);
      expect(b.equals(a)).toBe(true);
      expect(withoutOffsets(await qemuMap(ours))).toEqual(withoutOffsets(await qemuMap(theirs)));
    };
    await compare('after');
    await mustRun('qemu-img', ['snapshot', '-a', 'mid', theirs]);
    const reopened = (await openImage(ours, { format: 'qcow2' })) as Qcow2Image;
    await applySnapshot(reopened, 'mid');
    await reopened.close();
    await compare('reverted');
  });
});
