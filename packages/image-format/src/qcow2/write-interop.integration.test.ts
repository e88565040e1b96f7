import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../open.js';
import { pattern, readAll } from '../test-support/memory-chain.js';
import {
  makeTempDir,
  mustRun,
  qemuImgCheck,
  qemuMap as qemuMapOf,
  qemuReadRaw,
} from '../test-support/qemu.js';
import { INCOMPAT_DIRTY } from './constants.js';
import { type CreateQcow2Options, createQcow2 } from './create.js';
import { parseHeader } from './header.js';
import type { Qcow2Image } from './image.js';
import { createSnapshot, deleteSnapshot } from './snapshot.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-write-');
});
afterAll(() => tmp.cleanup());

/** A small deterministic generator, so failures replay. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

async function expectCleanCheck(path: string): Promise<void> {
  const { code, json } = await qemuImgCheck(path);
  expect({
    code,
    corruptions: json.corruptions ?? 0,
    leaks: json.leaks ?? 0,
    errors: json['check-errors'],
  }).toEqual({
    code: 0,
    corruptions: 0,
    leaks: 0,
    errors: 0,
  });
}

async function expectQemuReads(path: string, model: Uint8Array): Promise<void> {
  const theirs = await qemuReadRaw(path, 'qcow2', `${path}.raw`);
  expect(theirs.length).toBe(model.length);
  expect(theirs.equals(Buffer.from(model))).toBe(true);
}

/** Mixed guest operations on an open image, mirrored into a flat model. */
async function churn(image: Qcow2Image, model: Uint8Array, seed: number, steps: number): Promise<void> {
  const rnd = lcg(seed);
  const size = image.virtualSize;
  const cs = image.clusterSize;
  for (let i = 0; i < steps; i++) {
    const at = Math.floor(rnd() * (size - 1));
    const len = Math.min(size - at, 1 + Math.floor(rnd() * 3 * cs + rnd() * 70000));
    const what = rnd();
    if (what < 0.55) {
      const data = pattern(len, seed * 1000 + i);
      await image.write(data, at);
      model.set(data, at);
    } else if (what < 0.75) {
      await image.writeZeroes(at, len, { mayUnmap: rnd() < 0.5 });
      model.fill(0, at, at + len);
    } else if (what < 0.9 && (image.v3 || image.backingFileName === null)) {
      // (v2 over a backing file ignores discard; that is covered by the differential test.)
      await image.discard(at, len);
      const start = Math.ceil(at / cs) * cs;
      const end = at + len === size ? size : Math.floor((at + len) / cs) * cs;
      if (start < end) model.fill(0, start, end);
    } else {
      const cluster = Math.floor(rnd() * Math.floor(size / cs));
      const [status] = await image.blockStatus(cluster * cs, cs);
      if (status?.status === 'unallocated' && status.length >= cs) {
        const data = pattern(cs, i);
        data.fill(3, 0, cs / 2);
        await image.writeCompressed(data, cluster * cs);
        model.set(data, cluster * cs);
      }
    }
  }
}

describe('images written by Strata pass qemu-img check and read back in qemu', () => {
  const cases: CreateQcow2Options[] = [
    { clusterSize: 512, compat: '1.1', refcountBits: 16 },
    { clusterSize: 512, compat: '0.10' },
    { clusterSize: 512, compat: '1.1', refcountBits: 64 },
    { clusterSize: 4096, compat: '1.1', refcountBits: 1 },
    { clusterSize: 4096, compat: '1.1', refcountBits: 4 },
    { clusterSize: 65536, compat: '1.1' },
    { clusterSize: 65536, compat: '0.10' },
    { clusterSize: 2 << 20, compat: '1.1', refcountBits: 8 },
  ];
  it.each(cases)('cluster $clusterSize compat $compat refcount_bits $refcountBits', async (options) => {
    const path = tmp.path(`w-${options.clusterSize}-${options.compat}-${options.refcountBits ?? 16}.qcow2`);
    const size = 6 << 20;
    await createQcow2(path, { ...options, size });
    const model = new Uint8Array(size);
    let image = (await openImage(path, { format: 'qcow2' })) as Qcow2Image;
    await churn(image, model, options.clusterSize ?? 1, 25);
    await image.close();
    await expectCleanCheck(path);
    await expectQemuReads(path, model);
    // Reopen, grow, write past the old end, and check again.
    image = (await openImage(path, { format: 'qcow2' })) as Qcow2Image;
    await image.resize(size + (3 << 20));
    const grown = new Uint8Array(size + (3 << 20));
    grown.set(model);
    await churn(image, grown, 77, 12);
    expect(Buffer.from(await readAll(image)).equals(Buffer.from(grown))).toBe(true);
    await image.close();
    await expectCleanCheck(path);
    await expectQemuReads(path, grown);
  });

  it('writes zstd-compressed clusters into a zstd image that qemu reads', async () => {
    const path = tmp.path('zstd.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', path, '1M']);
    const image = (await openImage(path, { format: 'qcow2' })) as Qcow2Image;
    const model = new Uint8Array(1 << 20);
    for (let c = 0; c < 8; c++) {
      const data = pattern(65536, c);
      data.fill(c, 0, 50000);
      await image.writeCompressed(data, c * 65536);
      model.set(data, c * 65536);
    }
    expect((await image.blockStatus(0, 65536))[0]?.compressed).toBe(true);
    await image.close();
    await expectCleanCheck(path);
    await expectQemuReads(path, model);
  });

  it('takes, reads and deletes internal snapshots that qemu-img lists and reads', async () => {
    const path = tmp.path('snapshots.qcow2');
    await createQcow2(path, { size: 4 << 20, clusterSize: 4096 });
    const model = new Uint8Array(4 << 20);
    const image = (await openImage(path, { format: 'qcow2' })) as Qcow2Image;
    await churn(image, model, 5, 20);
    await createSnapshot(image, 'one');
    const atOne = model.slice();
    await churn(image, model, 6, 20);
    await createSnapshot(image, 'two');
    await churn(image, model, 7, 20);
    await deleteSnapshot(image, 'two');
    await createSnapshot(image, 'three');
    await image.close();
    await expectCleanCheck(path);
    await expectQemuReads(path, model);
    const listing = await mustRun('qemu-img', ['snapshot', '-l', path]);
    expect(listing).toMatch(/\n1\s+one\s/);
    // Like QEMU, the next id is one more than the highest id in use ("2" was deleted).
    expect(listing).toMatch(/\n2\s+three\s/);
    expect(listing).not.toMatch(/\stwo\s/);
    await mustRun('qemu-img', ['convert', '-l', 'snapshot.name=one', '-O', 'raw', path, tmp.path('one.raw')]);
    expect((await readFile(tmp.path('one.raw'))).equals(Buffer.from(atOne))).toBe(true);
  });

  it('writes an overlay on a qemu-made base that qemu reads through the chain', async () => {
    const base = tmp.path('base.qcow2');
    const top = tmp.path('top.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=16384', base, '3M']);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 3M', base]);
    await createQcow2(top, { backingFile: 'base.qcow2', backingFormat: 'qcow2', clusterSize: 4096 });
    const image = (await openImage(top, { format: 'qcow2' })) as Qcow2Image;
    const model = Buffer.from(await readAll(image));
    expect(model.every((b) => b === 0x5a)).toBe(true);
    await churn(image, model, 9, 40);
    await image.close();
    await expectCleanCheck(top);
    await expectQemuReads(top, model);
  });

  it('repairs a lazy-refcounts image left dirty, as QEMU does on a read-write open', async () => {
    const path = tmp.path('lazy.qcow2');
    await createQcow2(path, { size: 2 << 20, clusterSize: 4096, lazyRefcounts: true });
    const image = (await openImage(path, { format: 'qcow2' })) as Qcow2Image;
    const data = pattern(100000, 1);
    await image.write(data, 12345);
    await image.flush();
    // Simulate a crash: the file goes away without a clean close.
    await image.file.close();
    expect(parseHeader(await readFile(path)).incompatibleFeatures & INCOMPAT_DIRTY).toBe(INCOMPAT_DIRTY);
    const again = (await openImage(path, { format: 'qcow2' })) as Qcow2Image;
    expect((await again.info()).dirty).toBe(false);
    const back = new Uint8Array(100000);
    await again.read(back, 12345);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    await again.close();
    await expectCleanCheck(path);
  });

  it('resizes an image with internal snapshots, which keep their own size, as qemu-img 7.2 allows', async () => {
    const path = tmp.path('resize-snap.qcow2');
    await createQcow2(path, { size: 2 << 20, clusterSize: 4096 });
    const image = (await openImage(path, { format: 'qcow2' })) as Qcow2Image;
    const model = new Uint8Array(2 << 20);
    await churn(image, model, 21, 20);
    await createSnapshot(image, 'full');
    await image.resize(1 << 20, { shrink: true });
    await image.resize(3 << 20);
    const now = new Uint8Array(3 << 20);
    now.set(model.subarray(0, 1 << 20));
    await churn(image, now, 22, 10);
    await image.close();
    await expectCleanCheck(path);
    await expectQemuReads(path, now);
    // qemu-img reverting to the snapshot gets its 2 MiB back.
    await mustRun('qemu-img', ['snapshot', '-a', 'full', path]);
    await expectCleanCheck(path);
    await expectQemuReads(path, model);
  });

  it('records a snapshot with the same fields qemu-img snapshot -c writes (icount 0, no VM state)', async () => {
    const theirs = tmp.path('snap-fields-qemu.qcow2');
    const ours = tmp.path('snap-fields-ours.qcow2');
    for (const path of [theirs, ours]) await createQcow2(path, { size: 1 << 20 });
    await mustRun('qemu-img', ['snapshot', '-c', 'taken', theirs]);
    const image = (await openImage(ours, { format: 'qcow2' })) as Qcow2Image;
    await createSnapshot(image, 'taken');
    await image.close();
    const fields = async (path: string) => {
      const info = JSON.parse(await mustRun('qemu-img', ['info', '--output=json', path])) as {
        snapshots: Array<Record<string, unknown>>;
      };
      return info.snapshots.map(({ 'date-sec': _s, 'date-nsec': _n, ...rest }) => rest);
    };
    const expected = await fields(theirs);
    expect(expected[0]).toHaveProperty('icount');
    expect(await fields(ours)).toEqual(expected);
  });

  it('cuts the host file after its last used cluster on shrink, as qemu-img resize --shrink does', async () => {
    const theirs = tmp.path('shrink-tail-qemu.qcow2');
    const ours = tmp.path('shrink-tail-ours.qcow2');
    for (const path of [theirs, ours]) {
      await createQcow2(path, { size: 4 << 20 });
      await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 7 0 256k', '-c', 'write -P 8 3M 1M', path]);
    }
    await mustRun('qemu-img', ['resize', '-q', '--shrink', theirs, '1M']);
    const image = (await openImage(ours, { format: 'qcow2' })) as Qcow2Image;
    await image.resize(1 << 20, { shrink: true });
    await image.close();
    const sizes = [(await stat(ours)).size, (await stat(theirs)).size];
    expect(sizes[0]).toBe(sizes[1]);
    expect(sizes[0]).toBeLessThan(1 << 20);
    await expectCleanCheck(ours);
    expect(await qemuMapOf(ours)).toEqual(await qemuMapOf(theirs));
  });

  it('shrinks an image like qemu-img resize --shrink', async () => {
    const path = tmp.path('shrink.qcow2');
    await createQcow2(path, { size: 8 << 20, clusterSize: 4096 });
    const image = (await openImage(path, { format: 'qcow2' })) as Qcow2Image;
    const model = new Uint8Array(8 << 20);
    await churn(image, model, 11, 30);
    await expect(image.resize(3 << 20)).rejects.toMatchObject({ reason: 'invalid-argument' });
    await image.resize((3 << 20) + 1024, { shrink: true });
    await image.close();
    await expectCleanCheck(path);
    await expectQemuReads(path, model.subarray(0, (3 << 20) + 1024));
  });
});
