import { copyFile, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError } from '../errors.js';
import { checkImage } from './check.js';
import { checkExitCode, formatCheckReport, toImageCheckJson } from './check-result.js';
import { OFLAG_COPIED } from './constants.js';
import {
  dataClusters,
  firstL1EntryOffset,
  refcounts,
  withImage,
  writeU64,
} from './test-support/image-surgery.js';
import { makeTempDir, mustRun, qemuImgCheck, runPeer } from './test-support/qemu-peers.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-check-');
});
afterAll(async () => {
  await tmp.cleanup();
});

let serial = 0;
/** A qcow2 image made and written by the real tools. */
async function makeImage(
  options: { size?: string; cluster?: number; refcountBits?: number; writes?: string[] } = {},
) {
  const path = tmp.path(`img-${serial++}.qcow2`);
  const opts = [`cluster_size=${options.cluster ?? 65536}`, `refcount_bits=${options.refcountBits ?? 16}`];
  await mustRun('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    opts.join(','),
    path,
    options.size ?? '64M',
  ]);
  const writes = options.writes ?? ['write -P 0x11 0 200k', 'write -P 0x22 1M 64k', 'write -z 2M 64k'];
  for (const w of writes) await mustRun('qemu-io', ['-f', 'qcow2', '-c', w, path]);
  return path;
}

/** Checks `path` with qemu-img and with Strata (each on its own copy when repairing) and returns both. */
async function both(path: string, repair?: 'leaks' | 'all') {
  const theirs = tmp.path(`theirs-${serial++}.qcow2`);
  const ours = tmp.path(`ours-${serial++}.qcow2`);
  await copyFile(path, theirs);
  await copyFile(path, ours);
  const qemu = await qemuImgCheck(theirs, repair);
  const strata = await checkImage(ours, repair ? { repair } : {});
  const json = toImageCheckJson(strata);
  // The file name is the only thing allowed to differ.
  return { qemu, strata, json: { ...json, filename: theirs }, ours, theirs };
}

describe('checkImage against qemu-img check', () => {
  it('agrees on a healthy image with data, zero clusters and fragmentation', async () => {
    const path = await makeImage({
      writes: ['write -P 1 2M 64k', 'write -P 2 0 64k', 'write -P 3 4M 192k', 'write -z 8M 64k'],
    });
    const { qemu, strata, json } = await both(path);
    expect(json).toEqual(qemu.json);
    expect(checkExitCode(strata)).toBe(qemu.code);
    expect(strata.messages).toEqual([]);
    expect(strata.allocatedClusters).toBeGreaterThan(0);
    expect(strata.fragmentedClusters).toBeGreaterThan(0);
  });

  it('agrees on images with internal snapshots, compressed clusters and other geometries', async () => {
    const snap = await makeImage({ cluster: 4096, refcountBits: 4 });
    await mustRun('qemu-img', ['snapshot', '-c', 'one', snap]);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x33 0 8k', snap]);
    await mustRun('qemu-img', ['snapshot', '-c', 'two', snap]);

    const compressed = tmp.path('compressed.qcow2');
    await mustRun('qemu-img', [
      'convert',
      '-c',
      '-O',
      'qcow2',
      await makeImage({ cluster: 65536 }),
      compressed,
    ]);

    const wide = await makeImage({ cluster: 2 * 1024 * 1024, refcountBits: 64, size: '1G' });
    const narrow = await makeImage({
      cluster: 512,
      refcountBits: 1,
      size: '4M',
      writes: ['write -P 7 0 100k'],
    });

    for (const path of [snap, compressed, wide, narrow]) {
      const { qemu, strata, json } = await both(path);
      expect(json, path).toEqual(qemu.json);
      expect(checkExitCode(strata)).toBe(0);
    }
  });

  it('finds a refcount that is too high as a leak plus a COPIED error, like qemu-img', async () => {
    const path = await makeImage();
    const victim = await withImage(path, async (file) => {
      const [first] = await dataClusters(file);
      if (!first) throw new Error('no data cluster');
      const stored = await refcounts(file);
      await stored.set(first.hostCluster, 2n);
      return first;
    });
    const { qemu, strata, json } = await both(path);
    expect(json).toEqual(qemu.json);
    expect(json.leaks).toBe(1);
    expect(json.corruptions).toBe(1);
    expect(strata.messages).toContain(`Leaked cluster ${victim.hostCluster} refcount=2 reference=1`);
    expect(strata.messages).toContain(
      `ERROR OFLAG_COPIED data cluster: l2_entry=${victim.entry.toString(16)} refcount=2`,
    );
    for (const line of strata.messages) expect(qemu.stderr).toContain(line);
    expect(checkExitCode(strata)).toBe(qemu.code);
  });

  it('finds leaked clusters past the data and repairs them with repair: leaks', async () => {
    const path = await makeImage();
    // Count three clusters at the end of the file that nothing references.
    const leaked = await withImage(path, async (file) => {
      const size = await file.size();
      const first = Math.ceil(size / 65536);
      await file.truncate((first + 3) * 65536);
      const stored = await refcounts(file);
      for (let c = first; c < first + 3; c++) await stored.set(c, 1n);
      return first;
    });
    const check = await both(path);
    expect(check.json).toEqual(check.qemu.json);
    expect(check.strata.leaks).toBe(3);
    expect(check.strata.messages[0]).toBe(`Leaked cluster ${leaked} refcount=1 reference=0`);
    expect(checkExitCode(check.strata)).toBe(3);
    expect(check.qemu.code).toBe(3);

    const repaired = await both(path, 'leaks');
    expect(repaired.json).toEqual(repaired.qemu.json);
    expect(repaired.strata.leaksFixed).toBe(3);
    const after = await qemuImgCheck(repaired.ours);
    expect(after.code).toBe(0);
    expect(after.json.leaks).toBeUndefined();
  });

  it('finds a refcount that is too low and repairs it only with repair: all', async () => {
    const path = await makeImage();
    await mustRun('qemu-img', ['snapshot', '-c', 's1', path]);
    const victim = await withImage(path, async (file) => {
      const [first] = await dataClusters(file);
      if (!first) throw new Error('no data cluster');
      await (await refcounts(file)).set(first.hostCluster, 1n);
      return first;
    });
    const check = await both(path);
    expect(check.json).toEqual(check.qemu.json);
    expect(check.strata.messages).toContain(`ERROR cluster ${victim.hostCluster} refcount=1 reference=2`);
    expect(checkExitCode(check.strata)).toBe(2);

    const leaksOnly = await both(path, 'leaks');
    expect(leaksOnly.json).toEqual(leaksOnly.qemu.json);
    expect(checkExitCode(leaksOnly.strata)).toBe(2);

    const all = await both(path, 'all');
    expect(all.json).toEqual(all.qemu.json);
    expect(all.strata.corruptionsFixed).toBeGreaterThan(0);
    const after = await qemuImgCheck(all.ours);
    expect(after.code).toBe(0);
    expect(after.json.corruptions).toBeUndefined();
  });

  it('finds wrong COPIED flags on L1 and L2 entries and repairs them', async () => {
    const path = await makeImage();
    await withImage(path, async (file) => {
      const clusters = await dataClusters(file);
      const victim = clusters[1] ?? clusters[0];
      if (!victim) throw new Error('no data cluster');
      await writeU64(file, victim.entryOffset, victim.entry & ~OFLAG_COPIED);
      const l1At = await firstL1EntryOffset(file);
      const bytes = new Uint8Array(8);
      await file.read(bytes, l1At);
      const l1 = new DataView(bytes.buffer).getBigUint64(0);
      await writeU64(file, l1At, l1 & ~OFLAG_COPIED);
    });
    const check = await both(path);
    expect(check.json).toEqual(check.qemu.json);
    expect(check.strata.corruptions).toBe(2);
    expect(check.strata.messages.some((m) => m.startsWith('ERROR OFLAG_COPIED L2 cluster: l1_index=0'))).toBe(
      true,
    );

    const all = await both(path, 'all');
    expect(all.json).toEqual(all.qemu.json);
    expect(all.strata.corruptionsFixed).toBe(2);
    expect((await qemuImgCheck(all.ours)).code).toBe(0);
    // Repair fixes only metadata: the guest data reads back the same.
    const a = await mustRun('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', all.ours, all.theirs]);
    expect(a).toContain('identical');
  });

  it('is read-only unless repair is asked', async () => {
    const path = await makeImage();
    await withImage(path, async (file) => {
      const [first] = await dataClusters(file);
      if (!first) throw new Error('no data cluster');
      await (await refcounts(file)).set(first.hostCluster, 3n);
    });
    const before = await readFile(path);
    const result = await checkImage(path);
    expect(result.leaks).toBe(1);
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
  });

  it('prints the same human report as qemu-img check', async () => {
    const path = await makeImage();
    await withImage(path, async (file) => {
      const [first] = await dataClusters(file);
      if (!first) throw new Error('no data cluster');
      await (await refcounts(file)).set(first.hostCluster, 2n);
    });
    const human = await runPeer('qemu-img', ['check', '-f', 'qcow2', path]);
    expect(formatCheckReport(await checkImage(path))).toBe(human.stdout);
  });

  it('counts the clusters of persistent bitmaps, and finds them leaked once the extension is invalid', async () => {
    const path = await makeImage();
    await mustRun('qemu-img', ['bitmap', '--add', path, 'one']);
    await mustRun('qemu-img', ['bitmap', '--add', '-g', '512', path, 'fine']);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write 0 1M', '-c', 'write 40M 64k', path]);
    const healthy = await both(path);
    expect(healthy.json).toEqual(healthy.qemu.json);
    expect(healthy.strata.messages).toEqual([]);

    // Clearing autoclear bit 0 declares the bitmaps extension stale: its clusters are leaks.
    await withImage(path, async (file) => {
      const bytes = new Uint8Array(8);
      await file.read(bytes, 88);
      const view = new DataView(bytes.buffer);
      await writeU64(file, 88, view.getBigUint64(0) & ~1n);
    });
    const stale = await both(path);
    expect(stale.json).toEqual(stale.qemu.json);
    expect(stale.strata.leaks).toBeGreaterThan(3);
    const repaired = await both(path, 'leaks');
    expect(repaired.json).toEqual(repaired.qemu.json);
    expect((await qemuImgCheck(repaired.ours)).code).toBe(0);
  });

  it('refuses a file that is not qcow2 with a typed error', async () => {
    const raw = tmp.path('raw.img');
    await mustRun('qemu-img', ['create', '-q', '-f', 'raw', raw, '1M']);
    await expect(checkImage(raw)).rejects.toBeInstanceOf(ImageError);
  });
});
