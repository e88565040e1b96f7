import { describe, expect, it } from 'vitest';
import { MAP_HUMAN_HEADER, mapEntryHuman, mapEntryJson } from './map.js';

describe('map output', () => {
  it('prints JSON lines like qemu-img map', () => {
    expect(
      mapEntryJson({
        start: 0,
        length: 65536,
        depth: 1,
        present: true,
        zero: false,
        data: true,
        offset: 327680,
      }),
    ).toBe(
      '{ "start": 0, "length": 65536, "depth": 1, "present": true, "zero": false, "data": true, "offset": 327680}',
    );
    expect(
      mapEntryJson({ start: 65536, length: 983040, depth: 1, present: false, zero: true, data: false }),
    ).toBe('{ "start": 65536, "length": 983040, "depth": 1, "present": false, "zero": true, "data": false}');
  });

  it('prints only data rows in human form, with C %#x numbers', () => {
    expect(MAP_HUMAN_HEADER).toBe('Offset          Length          Mapped to       File\n');
    expect(
      mapEntryHuman({
        start: 0,
        length: 65536,
        depth: 1,
        present: true,
        zero: false,
        data: true,
        offset: 0x50000,
        file: 'a.qcow2',
      }),
    ).toBe('0               0x10000         0x50000         a.qcow2\n');
    expect(mapEntryHuman({ start: 0, length: 512, depth: 0, present: true, zero: true, data: false })).toBe(
      '',
    );
  });

  it('refuses compressed data in human form', () => {
    expect(() =>
      mapEntryHuman({ start: 0, length: 512, depth: 0, present: true, zero: false, data: true }),
    ).toThrow('File contains external, encrypted or compressed clusters.');
  });
});
