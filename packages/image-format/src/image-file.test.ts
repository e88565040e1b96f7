import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageError } from './errors.js';
import { HostFile, MemoryFile } from './image-file.js';

describe('MemoryFile', () => {
  it('grows on writes past the end and reads short at the end', async () => {
    const f = new MemoryFile('m');
    await f.write(Uint8Array.of(1, 2, 3), 10);
    expect(await f.size()).toBe(13);
    const buf = new Uint8Array(8).fill(9);
    expect(await f.read(buf, 8)).toBe(5);
    expect([...buf.subarray(0, 5)]).toEqual([0, 0, 1, 2, 3]);
    expect(await f.read(buf, 20)).toBe(0);
  });

  it('keeps contents across many growths and copies the initial bytes', async () => {
    const initial = Uint8Array.of(5, 6);
    const f = new MemoryFile('m', initial);
    initial[0] = 0;
    for (let i = 0; i < 100; i++) await f.write(Uint8Array.of(i), 2 + i * 100);
    const all = f.contents();
    expect(all.length).toBe(2 + 99 * 100 + 1);
    expect(all[0]).toBe(5);
    expect(all[2 + 50 * 100]).toBe(50);
  });

  it('truncates both ways, zeroing what a shrink cut off', async () => {
    const f = new MemoryFile('m', new Uint8Array(10).fill(7));
    await f.truncate(4);
    expect(await f.size()).toBe(4);
    await f.truncate(8);
    expect([...f.contents()]).toEqual([7, 7, 7, 7, 0, 0, 0, 0]);
  });

  it('counts flushes and refuses writes when read-only', async () => {
    const f = new MemoryFile('m', new Uint8Array(4), true);
    await f.flush();
    await f.flush();
    expect(f.flushes).toBe(2);
    await expect(f.write(Uint8Array.of(1), 0)).rejects.toMatchObject({ reason: 'read-only' });
    await expect(f.truncate(0)).rejects.toBeInstanceOf(ImageError);
  });
});

describe('HostFile', () => {
  it('reads, writes, truncates and reports sizes on a real file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-hostfile-'));
    try {
      const path = join(dir, 'f');
      const f = await HostFile.open(path, { create: true });
      await f.write(Uint8Array.of(1, 2, 3), 4096);
      expect(await f.size()).toBe(4099);
      const buf = new Uint8Array(4);
      expect(await f.read(buf, 4096)).toBe(3);
      await f.truncate(1 << 20);
      expect(await f.size()).toBe(1 << 20);
      expect(await f.allocatedSize()).toBeLessThan(1 << 20);
      await f.flush();
      await f.close();
      await expect(f.read(buf, 0)).rejects.toMatchObject({ reason: 'closed' });
      await expect(HostFile.open(path, { create: true })).rejects.toMatchObject({ reason: 'io' });
      const ro = await HostFile.open(path, { readOnly: true });
      await expect(ro.write(buf, 0)).rejects.toMatchObject({ reason: 'read-only' });
      await ro.close();
      await expect(HostFile.open(join(dir, 'missing'))).rejects.toMatchObject({ reason: 'io' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
