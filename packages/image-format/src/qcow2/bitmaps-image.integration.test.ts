import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirtyExtent } from '../dirty-bitmap.js';
import { ImageError } from '../errors.js';
import { HostFile } from '../image-file.js';
import { checkImage } from './check.js';
import { createQcow2 } from './create.js';
import { Qcow2Image } from './image.js';
import { makeTempDir, mustRun, qemuImgCheck } from './test-support/qemu-peers.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-image-bitmaps-');
});
afterAll(async () => {
  await tmp.cleanup();
});

async function open(path: string, readOnly = false): Promise<Qcow2Image> {
  return Qcow2Image.open(await HostFile.open(path, { readOnly }));
}

async function qemuBitmaps(path: string): Promise<{ name: string; granularity: number; flags: string[] }[]> {
  const info = JSON.parse(await mustRun('qemu-img', ['info', '-U', '--output=json', path])) as {
    'format-specific': { data: { bitmaps?: { name: string; granularity: number; flags: string[] }[] } };
  };
  return info['format-specific'].data.bitmaps ?? [];
}

async function nbdDirty(path: string, bitmap: string): Promise<DirtyExtent[]> {
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
  return (JSON.parse(out) as { offset: number; length: number; type: number }[])
    .filter((e) => e.type === 1)
    .map(({ offset, length }) => ({ offset, length }));
}

describe('Qcow2Image with persistent bitmaps, against QEMU', () => {
  it('records guest writes made through the image and stores them for qemu-nbd', async () => {
    const path = tmp.path('strata-made.qcow2');
    await createQcow2(path, { size: 64 * 2 ** 20 });
    const image = await open(path);
    const bitmaps = image.bitmaps;
    if (!bitmaps) throw new Error('bitmaps not loaded');
    bitmaps.add('backup', { persistent: true });
    bitmaps.add('paused', { persistent: true, disabled: true, granularity: 131072 });
    await image.write(new Uint8Array(10_000).fill(7), 100_000);
    await image.writeZeroes(8 * 2 ** 20, 65536);
    await image.discard(16 * 2 ** 20, 131072);
    await image.close();

    expect(await qemuBitmaps(path)).toEqual([
      { name: 'backup', granularity: 65536, flags: ['auto'] },
      { name: 'paused', granularity: 131072, flags: [] },
    ]);
    const check = await qemuImgCheck(path);
    expect(check.code, check.stderr).toBe(0);
    expect(await nbdDirty(path, 'backup')).toEqual([
      { offset: 65536, length: 65536 },
      { offset: 8 * 2 ** 20, length: 65536 },
      { offset: 16 * 2 ** 20, length: 131072 },
    ]);
    expect(await nbdDirty(path, 'paused')).toEqual([]);
  });

  it('continues a bitmap QEMU recorded, marks it in use while open, and stores the union', async () => {
    const path = tmp.path('qemu-made.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', path, '64M']);
    await mustRun('qemu-img', ['bitmap', '--add', path, 'b']);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write 0 4k', path]);

    const image = await open(path);
    expect(await qemuBitmaps(path)).toEqual([{ name: 'b', granularity: 65536, flags: ['in-use', 'auto'] }]);
    await image.write(new Uint8Array(512), 32 * 2 ** 20);
    await image.close();

    expect(await qemuBitmaps(path)).toEqual([{ name: 'b', granularity: 65536, flags: ['auto'] }]);
    expect(await nbdDirty(path, 'b')).toEqual([
      { offset: 0, length: 65536 },
      { offset: 32 * 2 ** 20, length: 65536 },
    ]);
    expect((await qemuImgCheck(path)).code).toBe(0);
    expect((await checkImage(path)).messages).toEqual([]);
  });

  it('leaves a bitmap in use after an unclean end, which QEMU then reports inconsistent too', async () => {
    const path = tmp.path('crashed.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', path, '64M']);
    await mustRun('qemu-img', ['bitmap', '--add', path, 'b']);
    const file = await HostFile.open(path);
    const image = await Qcow2Image.open(file);
    await image.write(new Uint8Array(512), 0);
    await image.flush();
    // A crash: the file goes away without the image being closed.
    await file.close();
    expect(await qemuBitmaps(path)).toEqual([{ name: 'b', granularity: 65536, flags: ['in-use', 'auto'] }]);
    // QEMU refuses to use it for writes too, and keeps it in use.
    const qemuWrite = await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write 1M 4k', path]);
    expect(qemuWrite).toContain('wrote');
    expect(await qemuBitmaps(path)).toEqual([{ name: 'b', granularity: 65536, flags: ['in-use', 'auto'] }]);

    const reopened = await open(path);
    expect(reopened.bitmaps?.list()).toMatchObject([{ name: 'b', inconsistent: true }]);
    await reopened.bitmaps?.remove('b');
    await reopened.close();
    expect(await qemuBitmaps(path)).toEqual([]);
    expect((await qemuImgCheck(path)).code).toBe(0);
  });

  it('refuses to open an image whose bitmap directory is hostile, read-write or not, without changing it', async () => {
    const path = tmp.path('hostile.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', path, '64M']);
    await mustRun('qemu-img', ['bitmap', '--add', path, 'b']);
    const probe = await open(path, true);
    const directory = probe.bitmapsExtension?.directoryOffset ?? 0;
    await probe.close();
    const file = await HostFile.open(path);
    // Granularity bits 40: outside what the format allows an implementation to accept.
    await file.write(Uint8Array.of(40), directory + 17);
    await file.close();
    const before = await readFile(path);
    for (const readOnly of [true, false]) {
      await expect(open(path, readOnly)).rejects.toBeInstanceOf(ImageError);
    }
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
  });
});
