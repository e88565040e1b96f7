import { copyFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainBlockStatus, toQemuImgMap } from '../chain-status.js';
import type { ImageDriver } from '../driver.js';
import { openImage } from '../open.js';
import { pattern, readAll } from '../test-support/memory-chain.js';
import { makeTempDir, mustRun, qemuMap, qemuReadRaw } from '../test-support/qemu.js';
import type { Qcow2Image } from './image.js';
import { applySnapshot, listSnapshots } from './snapshot.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-read-');
});
afterAll(() => tmp.cleanup());

/** Guest writes through qemu-io: data, unaligned data, zeroes (kept and unmapped) and discard. */
const QEMU_IO_SCRIPT = [
  'write -P 0x11 0 1k',
  'write -P 0x22 100k 200k',
  'write -P 0x33 3071k 4097',
  'write -z 150k 64k',
  'write -z -u 1M 1M',
  'write -P 0x44 1200k 3k',
  'discard 2M 512k',
  'write -P 0x55 2300k 1k',
];

async function expectSameAsQemu(path: string, image: ImageDriver): Promise<void> {
  const theirs = await qemuReadRaw(path, 'qcow2', `${path}.raw`);
  const ours = Buffer.from(await readAll(image));
  expect(ours.length).toBe(theirs.length);
  expect(ours.equals(theirs)).toBe(true);
}

const CLUSTER_SIZES = [
  512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152,
];
const REFCOUNT_BITS = [1, 2, 4, 8, 16, 32, 64];

describe('images written by qemu-img and qemu-io read back byte-identical', () => {
  // Every cluster size once, both compat levels alternating, and every refcount width on v3.
  const cases = CLUSTER_SIZES.map((cs, i) =>
    i % 2 === 1
      ? { cs, compat: '0.10', refcountBits: 16 }
      : { cs, compat: '1.1', refcountBits: REFCOUNT_BITS[(i / 2) % REFCOUNT_BITS.length] as number },
  );
  it.each(cases)('cluster $cs, compat $compat, refcount_bits $refcountBits', async ({
    cs,
    compat,
    refcountBits,
  }) => {
    const path = tmp.path(`rw-${cs}-${compat}.qcow2`);
    await mustRun('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      `cluster_size=${cs},compat=${compat},refcount_bits=${refcountBits}`,
      path,
      '4M',
    ]);
    await mustRun('qemu-io', ['-f', 'qcow2', ...QEMU_IO_SCRIPT.flatMap((c) => ['-c', c]), path]);
    const image = await openImage(path, { format: 'qcow2', readOnly: true });
    try {
      await expectSameAsQemu(path, image);
      // Allocation status from metadata alone matches qemu-img map (data, plain and preallocated zeros).
      expect(await chainBlockStatus(image)).toEqual(await qemuMap(path));
    } finally {
      await image.close();
    }
  });

  it('reads compressed clusters written by qemu-img convert -c, including packed and unaligned ones', async () => {
    const raw = tmp.path('source.raw');
    const data = new Uint8Array(3 << 20);
    for (let i = 0; i < data.length; i += 65536) {
      // Mostly compressible clusters (some very) and one incompressible one, plus zero runs.
      const chunk = pattern(65536, i);
      if ((i >> 16) % 3 === 0) chunk.fill(7, 0, 60000);
      else if ((i >> 16) % 3 === 1) chunk.fill(0);
      data.set(chunk, i);
    }
    await writeFile(raw, data);
    for (const [cs, type] of [
      ['4096', 'zlib'],
      ['65536', 'zlib'],
      ['65536', 'zstd'],
    ]) {
      const path = tmp.path(`compressed-${cs}-${type}.qcow2`);
      const options = `cluster_size=${cs},compression_type=${type}`;
      await mustRun('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', options, raw, path]);
      const image = await openImage(path, { format: 'qcow2', readOnly: true });
      try {
        expect(Buffer.from(await readAll(image)).equals(Buffer.from(data))).toBe(true);
        const map = await chainBlockStatus(image);
        expect(map.some((e) => e.compressed)).toBe(true);
        // qemu-img 7.2 prints no `compressed` field; the qemu-shaped view is exactly its map.
        expect(toQemuImgMap(map)).toEqual(await qemuMap(path));
      } finally {
        await image.close();
      }
    }
  });

  it('reads the active state of an image with internal snapshots, and reverts like qemu-img snapshot -a', async () => {
    const path = tmp.path('snap.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', path, '2M']);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 300k', path]);
    await mustRun('qemu-img', ['snapshot', '-c', 'first', path]);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 2 100k 10k', '-c', 'write -z 200k 50k', path]);
    await mustRun('qemu-img', ['snapshot', '-c', 'second', path]);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 3 0 5k', '-c', 'discard 256k 16k', path]);
    const image = (await openImage(path, { format: 'qcow2', readOnly: true })) as Qcow2Image;
    try {
      await expectSameAsQemu(path, image);
      const snaps = await listSnapshots(image);
      expect(snaps.map((s) => [s.id, s.name])).toEqual([
        ['1', 'first'],
        ['2', 'second'],
      ]);
    } finally {
      await image.close();
    }
    // Revert a copy with Strata and another with qemu-img: same guest bytes, clean check.
    const ours = tmp.path('snap-ours.qcow2');
    const theirs = tmp.path('snap-theirs.qcow2');
    await copyFile(path, ours);
    await copyFile(path, theirs);
    const writable = (await openImage(ours, { format: 'qcow2' })) as Qcow2Image;
    await applySnapshot(writable, 'first');
    await writable.close();
    await mustRun('qemu-img', ['snapshot', '-a', 'first', theirs]);
    const a = await qemuReadRaw(ours, 'qcow2', `${ours}.raw`);
    const b = await qemuReadRaw(theirs, 'qcow2', `${theirs}.raw`);
    expect(a.equals(b)).toBe(true);
    await mustRun('qemu-img', ['check', '-q', ours]);
  });

  it('follows a three-layer backing chain and maps it like qemu-img map', async () => {
    const base = tmp.path('chain-base.qcow2');
    const mid = tmp.path('chain-mid.qcow2');
    const top = tmp.path('chain-top.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', base, '4M']);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 64k', '-c', 'write -P 9 1M 300k', base]);
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'chain-base.qcow2', '-F', 'qcow2', mid]);
    await mustRun('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      'write -P 2 128k 64k',
      '-c',
      'write -z 256k 64k',
      '-c',
      'write -z 1100k 20k',
      mid,
    ]);
    await mustRun('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      'chain-mid.qcow2',
      '-F',
      'qcow2',
      top,
      '6M',
    ]);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 3 1M 64k', '-c', 'write -P 4 5M 10k', top]);
    const image = await openImage(top, { format: 'qcow2', readOnly: true });
    try {
      await expectSameAsQemu(top, image);
      expect(await chainBlockStatus(image)).toEqual(await qemuMap(top));
    } finally {
      await image.close();
    }
  });
});
