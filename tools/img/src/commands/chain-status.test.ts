import { createQcow2, MemoryFile, Qcow2Image, RawImage } from '@strata/image-format';
import { describe, expect, it } from 'vitest';
import { type ChainExtent, canMerge, mapChain } from './chain-status.js';

const MiB = 1024 * 1024;

async function chain(): Promise<Qcow2Image> {
  const baseBytes = new Uint8Array(4 * MiB).fill(1, 0, MiB);
  const base = await RawImage.open(new MemoryFile('dir/base.raw', baseBytes));
  const topFile = new MemoryFile('dir/top.qcow2');
  await createQcow2(topFile, {
    size: 8 * MiB,
    backingFile: 'base.raw',
    backingFormat: 'raw',
    backingSize: 4 * MiB,
  });
  const top = await Qcow2Image.open(topFile, { backing: base });
  await top.write(new Uint8Array(65536).fill(2), 2 * MiB);
  await top.writeZeroes(3 * MiB, 65536);
  return top;
}

async function collect(top: Qcow2Image, start: number, end: number): Promise<ChainExtent[]> {
  const out: ChainExtent[] = [];
  for await (const e of mapChain(top, start, end, 'dir/top.qcow2')) out.push(e);
  return out;
}

describe('mapChain', () => {
  it('walks the chain like qemu-img map: depth, presence, zeroes past a shorter backing', async () => {
    const top = await chain();
    const entries = (await collect(top, 0, 8 * MiB)).map(({ offset: _o, ...rest }) => rest);
    expect(entries).toEqual([
      { start: 0, length: 2 * MiB, depth: 1, present: true, zero: false, data: true, file: 'dir/base.raw' },
      {
        start: 2 * MiB,
        length: 65536,
        depth: 0,
        present: true,
        zero: false,
        data: true,
        file: 'dir/top.qcow2',
      },
      {
        start: 2 * MiB + 65536,
        length: MiB - 65536,
        depth: 1,
        present: true,
        zero: false,
        data: true,
        file: 'dir/base.raw',
      },
      { start: 3 * MiB, length: 65536, depth: 0, present: true, zero: true, data: false },
      {
        start: 3 * MiB + 65536,
        length: MiB - 65536,
        depth: 1,
        present: true,
        zero: false,
        data: true,
        file: 'dir/base.raw',
      },
      { start: 4 * MiB, length: 4 * MiB, depth: 0, present: false, zero: true, data: false },
    ]);
  });

  it('merges only contiguous extents with equal status and host offsets', () => {
    const a: ChainExtent = {
      start: 0,
      length: 10,
      depth: 0,
      present: true,
      zero: false,
      data: true,
      offset: 100,
      file: 'f',
    };
    expect(canMerge(a, { ...a, start: 10, offset: 110 })).toBe(true);
    expect(canMerge(a, { ...a, start: 10, offset: 200 })).toBe(false);
    expect(canMerge(a, { ...a, start: 11, offset: 111 })).toBe(false);
    expect(canMerge(a, { ...a, start: 10, offset: 110, depth: 1 })).toBe(false);
    expect(canMerge(a, { ...a, start: 10, offset: 110, file: 'g' })).toBe(false);
  });
});
