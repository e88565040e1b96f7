import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirtyExtent } from '../dirty-bitmap.js';
import { ImageError } from '../errors.js';
import { PersistentBitmaps } from './bitmaps.js';
import { checkImage } from './check.js';
import { AppendingBitmapHost } from './test-support/bitmap-host.js';
import { makeTempDir, mustRun, qemuImgCheck, runPeer } from './test-support/qemu-peers.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-bitmaps-');
});
afterAll(async () => {
  await tmp.cleanup();
});

let serial = 0;
async function makeImage(size = '64M', cluster = 65536): Promise<string> {
  const path = tmp.path(`bm-${serial++}.qcow2`);
  await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `cluster_size=${cluster}`, path, size]);
  return path;
}

async function qemuIo(path: string, ...commands: string[]): Promise<void> {
  await mustRun('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), path]);
}

interface QemuBitmapInfo {
  name: string;
  granularity: number;
  flags: string[];
}

async function qemuImgBitmaps(path: string): Promise<QemuBitmapInfo[]> {
  const info = JSON.parse(await mustRun('qemu-img', ['info', '-U', '--output=json', path])) as {
    'format-specific': { data: { bitmaps?: QemuBitmapInfo[] } };
  };
  return info['format-specific'].data.bitmaps ?? [];
}

/** Dirty extents of a bitmap as qemu-nbd exports them, read by nbdinfo. */
async function nbdDirtyExtents(path: string, bitmap: string): Promise<DirtyExtent[]> {
  const out = await mustRun('nbdinfo', [
    '--json',
    `--map=qemu:dirty-bitmap:${bitmap}`,
    '--',
    '[',
    'qemu-nbd',
    '-f',
    'qcow2',
    '-r',
    '-B',
    bitmap,
    path,
    ']',
  ]);
  const map = JSON.parse(out) as { offset: number; length: number; type: number }[];
  return map.filter((e) => e.type === 1).map((e) => ({ offset: e.offset, length: e.length }));
}

/** Opens the image's bitmaps through the test host, runs `body`, closes cleanly unless told not to. */
async function withBitmaps<T>(
  path: string,
  body: (bitmaps: PersistentBitmaps) => Promise<T> | T,
  options: { readOnly?: boolean; close?: boolean } = {},
): Promise<T> {
  const host = await AppendingBitmapHost.open(path, options.readOnly);
  try {
    const bitmaps = await PersistentBitmaps.open(host);
    const result = await body(bitmaps);
    if (options.close !== false) await bitmaps.close();
    return result;
  } finally {
    await host.close();
  }
}

describe('persistent bitmaps written by QEMU', () => {
  it('reads bitmaps made by qemu-img bitmap and filled by qemu-io writes', async () => {
    const path = await makeImage();
    await mustRun('qemu-img', ['bitmap', '--add', path, 'b1']);
    await mustRun('qemu-img', ['bitmap', '--add', '-g', '512K', '--disable', path, 'b2']);
    await mustRun('qemu-img', ['bitmap', '--add', '-g', '4K', path, 'fine']);
    await qemuIo(path, 'write 100k 10k', 'write 5M 1M', 'write 40M 4k');
    await mustRun('qemu-img', ['bitmap', '--enable', path, 'b2']);
    await qemuIo(path, 'write 63M 512');
    const list = await withBitmaps(path, (b) => b.list(), { readOnly: true });
    expect(list.map(({ name, granularity, flags }) => ({ name, granularity, flags }))).toEqual(
      await qemuImgBitmaps(path),
    );
    await withBitmaps(
      path,
      async (b) => {
        for (const name of ['b1', 'b2', 'fine']) {
          expect([...b.get(name).extents()], name).toEqual(await nbdDirtyExtents(path, name));
        }
        expect([...b.get('b2').extents()]).toEqual([{ offset: 63 * 2 ** 20, length: 512 * 1024 }]);
      },
      { readOnly: true },
    );
  });

  it('reads a bitmap merged by qemu-img bitmap --merge, and one cleared', async () => {
    const path = await makeImage();
    await mustRun('qemu-img', ['bitmap', '--add', path, 'a']);
    await qemuIo(path, 'write 0 64k');
    await mustRun('qemu-img', ['bitmap', '--add', path, 'b']);
    await mustRun('qemu-img', ['bitmap', '--disable', path, 'a']);
    await qemuIo(path, 'write 10M 64k');
    await mustRun('qemu-img', ['bitmap', '--add', '--disable', path, 'sum']);
    await mustRun('qemu-img', ['bitmap', '--merge', 'a', '--merge', 'b', path, 'sum']);
    await mustRun('qemu-img', ['bitmap', '--clear', path, 'b']);
    await withBitmaps(
      path,
      (b) => {
        expect([...b.get('sum').extents()]).toEqual([
          { offset: 0, length: 65536 },
          { offset: 10 * 2 ** 20, length: 65536 },
        ]);
        expect([...b.get('a').extents()]).toEqual([{ offset: 0, length: 65536 }]);
        expect(b.get('b').count()).toBe(0);
        expect(b.list().find((x) => x.name === 'sum')?.recording).toBe(false);
      },
      { readOnly: true },
    );
  });
});

describe('persistent bitmaps written by Strata', () => {
  it('stores bitmaps that qemu-img info lists and qemu-nbd exports identically, with a clean check', async () => {
    const path = await makeImage('100M');
    const written = await withBitmaps(path, (b) => {
      const one = b.add('one', { persistent: true });
      one.set(0, 1);
      one.set(30 * 2 ** 20, 3 * 2 ** 20);
      const two = b.add('two', { persistent: true, granularity: 512 * 1024, disabled: true });
      two.setAll();
      b.add('empty', { persistent: true, granularity: 4096 });
      b.add('transient', { granularity: 65536 }).setAll();
      return { one: [...one.extents()], two: [...two.extents()] };
    });
    expect(await qemuImgBitmaps(path)).toEqual([
      { name: 'one', granularity: 65536, flags: ['auto'] },
      { name: 'two', granularity: 524288, flags: [] },
      { name: 'empty', granularity: 4096, flags: ['auto'] },
    ]);
    const check = await qemuImgCheck(path);
    expect(check.code, check.stderr).toBe(0);
    expect(await nbdDirtyExtents(path, 'one')).toEqual(written.one);
    expect(await nbdDirtyExtents(path, 'two')).toEqual(written.two);
    expect(await nbdDirtyExtents(path, 'empty')).toEqual([]);
    expect((await checkImage(path)).messages).toEqual([]);
  });

  it('records guest writes in recording bitmaps only, and QEMU continues from what was stored', async () => {
    const path = await makeImage();
    await withBitmaps(path, (b) => {
      b.add('rec', { persistent: true });
      b.add('off', { persistent: true, disabled: true });
      b.onGuestWrite(70 * 1024, 1000);
    });
    await qemuIo(path, 'write 1M 4k');
    await withBitmaps(
      path,
      (b) => {
        expect([...b.get('rec').extents()]).toEqual([
          { offset: 65536, length: 65536 },
          { offset: 2 ** 20, length: 65536 },
        ]);
        expect(b.get('off').count()).toBe(0);
      },
      { readOnly: true },
    );
  });

  it('marks bitmaps in use while open read-write, and an unclean close leaves them inconsistent', async () => {
    const path = await makeImage();
    await mustRun('qemu-img', ['bitmap', '--add', path, 'b']);
    await qemuIo(path, 'write 0 4k');
    // Open read-write and "crash": never close the bitmaps.
    await withBitmaps(path, () => undefined, { close: false });
    expect(await qemuImgBitmaps(path)).toEqual([
      { name: 'b', granularity: 65536, flags: ['in-use', 'auto'] },
    ]);

    await withBitmaps(path, async (b) => {
      const [info] = b.list();
      expect(info).toMatchObject({ name: 'b', inconsistent: true, flags: ['in-use', 'auto'] });
      expect(() => b.get('b')).toThrow(ImageError);
      expect(() => b.enable('b')).toThrow(/inconsistent/);
      await b.remove('b');
      expect(b.list()).toEqual([]);
    });
    expect(await qemuImgBitmaps(path)).toEqual([]);
    const check = await qemuImgCheck(path);
    expect(check.code, check.stderr).toBe(0);
  });

  it('removes, clears and merges persistent bitmaps with the file kept consistent', async () => {
    const path = await makeImage();
    await mustRun('qemu-img', ['bitmap', '--add', path, 'x']);
    await mustRun('qemu-img', ['bitmap', '--add', path, 'y']);
    await qemuIo(path, 'write 2M 64k');
    await withBitmaps(path, async (b) => {
      b.add('z', { persistent: true, granularity: 131072 });
      b.get('z').set(8 * 2 ** 20, 1);
      b.merge('z', ['x']);
      b.clear('y');
      await b.remove('x');
      expect((await qemuImgCheck(path)).code).toBe(0);
    });
    expect(await qemuImgBitmaps(path)).toEqual([
      { name: 'y', granularity: 65536, flags: ['auto'] },
      { name: 'z', granularity: 131072, flags: ['auto'] },
    ]);
    expect(await nbdDirtyExtents(path, 'z')).toEqual([
      { offset: 2 * 2 ** 20, length: 131072 },
      { offset: 8 * 2 ** 20, length: 131072 },
    ]);
    expect(await nbdDirtyExtents(path, 'y')).toEqual([]);
    const check = await qemuImgCheck(path);
    expect(check.code, check.stderr).toBe(0);
  });

  it('refuses duplicate names, bad granularities and persistent bitmaps on read-only images', async () => {
    const path = await makeImage();
    await withBitmaps(path, (b) => {
      b.add('a', { persistent: true });
      expect(() => b.add('a')).toThrow(expect.objectContaining({ reason: 'exists' }));
      expect(() => b.add('g', { granularity: 1000 })).toThrow(ImageError);
      expect(() => b.add('', { persistent: true })).toThrow(ImageError);
      expect(() => b.add('n'.repeat(1024), { persistent: true })).toThrow(ImageError);
    });
    await withBitmaps(
      path,
      async (b) => {
        expect(() => b.add('p', { persistent: true })).toThrow(
          expect.objectContaining({ reason: 'read-only' }),
        );
        await expect(b.remove('a')).rejects.toMatchObject({ reason: 'read-only' });
      },
      { readOnly: true },
    );
  });
});

describe('hostile bitmap directories', () => {
  /** Byte offset of the bitmap directory of an image with one bitmap named 'b'. */
  async function imageWithBitmap(): Promise<{ path: string; directory: number }> {
    const path = await makeImage();
    await mustRun('qemu-img', ['bitmap', '--add', path, 'b']);
    await qemuIo(path, 'write 0 64k');
    const host = await AppendingBitmapHost.open(path, true);
    const directory = host.bitmapsExtension?.directoryOffset ?? 0;
    await host.close();
    return { path, directory };
  }

  // QEMU reads a table past the end of the file as zeros; Strata refuses it, as the
  // format requires tables inside the file.
  const qemuAccepts = new Set(['table offset past the end of the file']);
  const damages: [string, (view: DataView) => void][] = [
    ['table offset unaligned', (v) => v.setBigUint64(0, v.getBigUint64(0) + 512n)],
    ['table offset past the end of the file', (v) => v.setBigUint64(0, 1n << 40n)],
    ['table size zero', (v) => v.setUint32(8, 0)],
    ['reserved flag', (v) => v.setUint32(12, v.getUint32(12) | 0x100)],
    ['unknown type', (v) => v.setUint8(16, 2)],
    ['granularity below 9 bits', (v) => v.setUint8(17, 8)],
    ['granularity above 31 bits', (v) => v.setUint8(17, 32)],
    ['empty name', (v) => v.setUint16(18, 0)],
    ['name running past the directory', (v) => v.setUint16(18, 1000)],
    ['huge extra data', (v) => v.setUint32(20, 0xffffffff)],
  ];

  for (const [what, damage] of damages) {
    it(`rejects ${what} with a typed error and changes nothing`, async () => {
      const { path, directory } = await imageWithBitmap();
      const host = await AppendingBitmapHost.open(path);
      const bytes = new Uint8Array(24);
      await host.file.read(bytes, directory);
      const view = new DataView(bytes.buffer);
      damage(view);
      await host.file.write(bytes, directory);
      await host.close();
      const before = await readFile(path);
      await expect(withBitmaps(path, () => undefined)).rejects.toBeInstanceOf(ImageError);
      await expect(checkImage(path)).rejects.toBeInstanceOf(ImageError);
      expect(Buffer.compare(await readFile(path), before)).toBe(0);
      if (!qemuAccepts.has(what)) expect((await runPeer('qemu-img', ['info', path])).code).not.toBe(0);
    });
  }

  it('rejects a table too small for the disk', async () => {
    // 4 GiB at 512-byte granularity needs 1 MiB of bitmap data: 16 table entries.
    const path = await makeImage('4G');
    await mustRun('qemu-img', ['bitmap', '--add', '-g', '512', path, 'fine']);
    const host = await AppendingBitmapHost.open(path);
    const directory = host.bitmapsExtension?.directoryOffset ?? 0;
    const size = new Uint8Array(4);
    await host.file.read(size, directory + 8);
    expect(new DataView(size.buffer).getUint32(0)).toBe(16);
    new DataView(size.buffer).setUint32(0, 15);
    await host.file.write(size, directory + 8);
    await host.close();
    await expect(withBitmaps(path, () => undefined)).rejects.toMatchObject({ reason: 'corrupt' });
    expect((await runPeer('qemu-img', ['info', path])).code).not.toBe(0);
  });

  it('rejects a bitmaps extension that counts more bitmaps than the directory holds', async () => {
    const { path } = await imageWithBitmap();
    const host = await AppendingBitmapHost.open(path);
    const ext = host.bitmapsExtension;
    if (!ext) throw new Error('no bitmaps extension');
    await host.writeBitmapsExtension({ ...ext, nbBitmaps: 2 });
    await host.close();
    const before = await readFile(path);
    await expect(withBitmaps(path, () => undefined)).rejects.toMatchObject({ reason: 'corrupt' });
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
  });
});
