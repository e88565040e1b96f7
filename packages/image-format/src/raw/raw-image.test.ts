import { describe, expect, it } from 'vitest';
import { MemoryFile } from '../image-file.js';
import { RawImage } from './raw-image.js';

describe('RawImage', () => {
  it('reads, writes, zeroes, resizes and refuses what it must', async () => {
    const file = new MemoryFile('disk.raw', new Uint8Array(8192).fill(1));
    const image = await RawImage.open(file);
    expect(image.virtualSize).toBe(8192);
    await image.write(Uint8Array.of(7, 8), 10);
    await image.writeZeroes(100, 50);
    const buf = new Uint8Array(200);
    await image.read(buf, 0);
    expect([buf[9], buf[10], buf[11], buf[12]]).toEqual([1, 7, 8, 1]);
    expect(buf.subarray(100, 150).every((b) => b === 0)).toBe(true);
    await expect(image.read(new Uint8Array(2), 8191)).rejects.toMatchObject({ reason: 'out-of-range' });
    await expect(image.resize(4096)).rejects.toMatchObject({ reason: 'invalid-argument' });
    await image.resize(4096, { shrink: true });
    await image.resize(16384);
    expect(await file.size()).toBe(16384);
    const tail = new Uint8Array(4096);
    await image.read(tail, 8192);
    expect(tail.every((b) => b === 0)).toBe(true);
    await image.close();
    await expect(image.read(buf, 0)).rejects.toMatchObject({ reason: 'closed' });
    const ro = await RawImage.open(new MemoryFile('ro', new Uint8Array(10), true));
    await expect(ro.write(Uint8Array.of(1), 0)).rejects.toMatchObject({ reason: 'read-only' });
  });
});
