import { describe, expect, it } from 'vitest';
import { ioAmount, sizeToString } from './human-size.js';

describe('sizeToString (qemu-img human sizes)', () => {
  it('matches values printed by qemu-img 7.2', () => {
    expect(sizeToString(67108864)).toBe('64 MiB');
    expect(sizeToString(331776)).toBe('324 KiB');
    expect(sizeToString(4096)).toBe('4 KiB');
    expect(sizeToString(0)).toBe('0 B');
    expect(sizeToString(1024)).toBe('1 KiB');
    expect(sizeToString(77594624)).toBe('74 MiB');
    expect(sizeToString(1000)).toBe('0.977 KiB');
    expect(sizeToString(1536 * 2 ** 20)).toBe('1.5 GiB');
    expect(sizeToString(999)).toBe('999 B');
  });
});

describe('ioAmount (qemu-io amounts)', () => {
  it('drops an all-zero fraction and keeps three decimals otherwise', () => {
    expect(ioAmount(4096)).toBe('4 KiB');
    expect(ioAmount(512)).toBe('512 bytes');
    expect(ioAmount(0)).toBe('0 bytes');
    expect(ioAmount(1536)).toBe('1.500 KiB');
    expect(ioAmount(65994752)).toBe('62.938 MiB');
    expect(ioAmount(1114112)).toBe('1.062 MiB');
    expect(ioAmount(10 * 2 ** 20)).toBe('10 MiB');
  });
});

describe('rounding like C printf', () => {
  it('rounds exact ties to even', () => {
    expect(sizeToString(1.125 * 2 ** 30)).toBe('1.12 GiB');
    expect(sizeToString(1.375 * 2 ** 30)).toBe('1.38 GiB');
  });
});
