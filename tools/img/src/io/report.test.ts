import { describe, expect, it } from 'vitest';
import { elapsedText, hexDump, mapLine, requestReport } from './report.js';

describe('qemu-io report lines', () => {
  it('formats the request summary and timing line', () => {
    expect(requestReport('wrote', 0, 4096, 0.004)).toBe(
      'wrote 4096/4096 bytes at offset 0\n4 KiB, 1 ops; 00.00 sec (1000 KiB/sec and 250.0000 ops/sec)\n',
    );
    expect(requestReport('read', 0, 1536, 0.5)).toMatch(
      /^read 1536\/1536 bytes at offset 0\n1\.500 KiB, 1 ops; 00\.50 sec \(3 KiB\/sec and 2\.0000 ops\/sec\)\n$/,
    );
  });

  it('switches to H:MM:SS.ss from one second on', () => {
    expect(elapsedText(0.004)).toBe('00.00 sec');
    expect(elapsedText(0.256)).toBe('00.26 sec');
    expect(elapsedText(61.5)).toBe('0:01:01.50');
  });

  it('dumps bytes as qemu-io -v', () => {
    const buf = new Uint8Array(40).fill(1);
    buf.set([0x41, 0x7a, 0x30], 32);
    expect(hexDump(buf, 0)).toBe(
      '00000000:  01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01  ................\n' +
        '00000010:  01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01  ................\n' +
        '00000020:  41 7a 30 01 01 01 01 01  Az0.....\n',
    );
  });

  it('prints map runs as qemu-io', () => {
    expect(mapLine(0, 65536, true)).toBe('64 KiB (0x10000) bytes     allocated at offset 0 bytes (0x0)\n');
    expect(mapLine(1114112, 65994752, false)).toBe(
      '62.938 MiB (0x3ef0000) bytes not allocated at offset 1.062 MiB (0x110000)\n',
    );
  });
});
