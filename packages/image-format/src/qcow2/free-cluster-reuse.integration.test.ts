import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageDriver } from '../driver.js';
import { openImage } from '../open.js';
import { makeTempDir, mustRun, qemuMap } from '../test-support/qemu.js';
import { createQcow2 } from './create.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-reuse-');
});
afterAll(() => tmp.cleanup());

type Step = [qemuIo: string, run: (image: ImageDriver) => Promise<void>];
const K = 1024;
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

// Frees open holes below the end of the file; QEMU searches from the lowest freed cluster,
// takes the first run long enough, and moves its search start past every run it hands out.
const SCENARIOS: Array<[name: string, steps: Step[]]> = [
  [
    'a freed cluster is reused by the next single-cluster allocation',
    [
      ['write -P 1 0 192k', (i) => i.write(fill(192 * K, 1), 0)],
      ['discard 64k 64k', (i) => i.discard(64 * K, 64 * K)],
      ['write -P 2 512k 64k', (i) => i.write(fill(64 * K, 2), 512 * K)],
    ],
  ],
  [
    'a hole too small for a two-cluster run is skipped, and the search then starts past the run',
    [
      ['write -P 1 0 192k', (i) => i.write(fill(192 * K, 1), 0)],
      ['discard 64k 64k', (i) => i.discard(64 * K, 64 * K)],
      ['write -P 2 256k 128k', (i) => i.write(fill(128 * K, 2), 256 * K)],
      ['write -P 3 768k 64k', (i) => i.write(fill(64 * K, 3), 768 * K)],
    ],
  ],
  [
    'two holes: the lowest is filled first',
    [
      ['write -P 1 0 320k', (i) => i.write(fill(320 * K, 1), 0)],
      ['discard 192k 64k', (i) => i.discard(192 * K, 64 * K)],
      ['discard 64k 64k', (i) => i.discard(64 * K, 64 * K)],
      ['write -P 2 640k 64k', (i) => i.write(fill(64 * K, 2), 640 * K)],
      ['write -P 3 832k 64k', (i) => i.write(fill(64 * K, 3), 832 * K)],
    ],
  ],
];

describe('free clusters are reused as QEMU reuses them', () => {
  it.each(SCENARIOS)('%s: same host offsets as qemu-io', async (name, steps) => {
    const slug = name.replace(/\W+/g, '-').slice(0, 40);
    const theirs = tmp.path(`${slug}-qemu.qcow2`);
    const ours = tmp.path(`${slug}-strata.qcow2`);
    await createQcow2(theirs, { size: 1 << 20 });
    await createQcow2(ours, { size: 1 << 20 });
    await mustRun('qemu-io', ['-f', 'qcow2', ...steps.flatMap(([cmd]) => ['-c', cmd]), theirs]);
    const image = await openImage(ours, { format: 'qcow2' });
    for (const [, run] of steps) await run(image);
    await image.close();
    expect(await qemuMap(ours)).toEqual(await qemuMap(theirs));
  });
});
