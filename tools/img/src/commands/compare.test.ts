import { MemoryFile, RawImage } from '@strata/image-format';
import { describe, expect, it } from 'vitest';
import { compareImages } from './compare.js';

async function raw(size: number, fill: Array<[number, number, number]> = []): Promise<RawImage> {
  const bytes = new Uint8Array(size);
  for (const [offset, length, value] of fill) bytes.fill(value, offset, offset + length);
  return RawImage.open(new MemoryFile('mem', bytes));
}

describe('compareImages', () => {
  it('finds identical contents', async () => {
    const verdict = await compareImages(
      await raw(8192, [[100, 50, 1]]),
      await raw(8192, [[100, 50, 1]]),
      false,
    );
    expect(verdict).toEqual({ differs: false, message: 'Images are identical.\n' });
  });

  it('reports the first differing 512-byte sector', async () => {
    const verdict = await compareImages(await raw(8192, [[1500, 1, 1]]), await raw(8192), false);
    expect(verdict).toEqual({ differs: true, message: 'Content mismatch at offset 1024!\n' });
  });

  it('accepts a longer image that reads zeroes past the shorter one, except in strict mode', async () => {
    expect((await compareImages(await raw(4096), await raw(8192), false)).message).toBe(
      'Warning: Image size mismatch!\nImages are identical.\n',
    );
    expect((await compareImages(await raw(4096), await raw(8192), true)).message).toBe(
      'Strict mode: Image size mismatch!\n',
    );
    expect((await compareImages(await raw(4096), await raw(8192, [[6000, 1, 9]]), false)).message).toBe(
      'Warning: Image size mismatch!\nContent mismatch at offset 5632!\n',
    );
  });
});
