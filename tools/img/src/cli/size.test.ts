import { describe, expect, it } from 'vitest';
import { parseSize, sizeOrMessage } from './size.js';

describe('parseSize', () => {
  it('reads plain bytes, binary units and fractions with a unit', () => {
    expect(parseSize('1000')).toEqual({ ok: true, bytes: 1000 });
    expect(parseSize('512b')).toEqual({ ok: true, bytes: 512 });
    expect(parseSize('4k')).toEqual({ ok: true, bytes: 4096 });
    expect(parseSize('4K')).toEqual({ ok: true, bytes: 4096 });
    expect(parseSize('64M')).toEqual({ ok: true, bytes: 64 * 2 ** 20 });
    expect(parseSize('1.5M')).toEqual({ ok: true, bytes: 1572864 });
    expect(parseSize('2T')).toEqual({ ok: true, bytes: 2 * 2 ** 40 });
    expect(parseSize('0x100')).toEqual({ ok: true, bytes: 256 });
  });

  it('refuses what qemu-img refuses', () => {
    expect(parseSize('1Q')).toEqual({ ok: false, problem: 'invalid' });
    expect(parseSize('1.5')).toEqual({ ok: false, problem: 'invalid' });
    expect(parseSize('-5')).toEqual({ ok: false, problem: 'invalid' });
    expect(parseSize('0x10k')).toEqual({ ok: false, problem: 'invalid' });
    expect(parseSize('')).toEqual({ ok: false, problem: 'invalid' });
    expect(parseSize('9E')).toEqual({ ok: false, problem: 'range' });
  });

  it('words the errors as qemu-img create does', () => {
    expect(sizeOrMessage('image size', '1Q')).toEqual({
      lines: [
        'Invalid image size specified. You may use k, M, G, T, P or E suffixes for',
        'kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.',
      ],
    });
    expect(sizeOrMessage('image size', '9E')).toEqual({
      lines: ['Invalid image size specified. Must be between 0 and 9223372036854775807.'],
    });
  });
});
