import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainBlockStatus, toQemuImgMap } from '../chain-status.js';
import { openImage } from '../open.js';
import { makeTempDir, mustRun } from '../test-support/qemu.js';
import { createRaw } from './raw-image.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-raw-map-');
});
afterAll(() => tmp.cleanup());

async function qemuRawMap(path: string): Promise<unknown> {
  return JSON.parse(await mustRun('qemu-img', ['map', '-f', 'raw', '--output=json', path]));
}

describe('raw block status', () => {
  it('reports a file that occupies no host blocks as zeros, exactly as qemu-img map does', async () => {
    const path = tmp.path('empty.raw');
    await createRaw(path, { size: 4 << 20 });
    const image = await openImage(path, { format: 'raw', readOnly: true });
    try {
      expect(toQemuImgMap(await chainBlockStatus(image))).toEqual(await qemuRawMap(path));
    } finally {
      await image.close();
    }
  });

  it('reports data once the file holds any, covering everything qemu-img maps as data', async () => {
    const path = tmp.path('some-data.raw');
    await createRaw(path, { size: 4 << 20 });
    const image = await openImage(path, { format: 'raw' });
    try {
      await image.write(new Uint8Array(65536).fill(9), 1 << 20);
      await image.flush();
      const ours = await chainBlockStatus(image);
      const theirs = (await qemuRawMap(path)) as Array<{ start: number; length: number; data: boolean }>;
      for (const range of theirs.filter((e) => e.data)) {
        const covering = ours.find(
          (e) => e.start <= range.start && range.start + range.length <= e.start + e.length,
        );
        expect(covering?.data, JSON.stringify(range)).toBe(true);
      }
      expect(theirs.some((e) => e.data)).toBe(true);
    } finally {
      await image.close();
    }
  });
});
