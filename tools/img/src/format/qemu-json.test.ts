import { describe, expect, it } from 'vitest';
import { qemuKeyOrder, toQemuJson } from './qemu-json.js';

describe('qemuKeyOrder', () => {
  it('orders ImageInfo members as qemu-img info prints them', () => {
    const keys = [
      'filename',
      'format',
      'dirty-flag',
      'actual-size',
      'virtual-size',
      'cluster-size',
      'backing-filename',
      'full-backing-filename',
      'backing-filename-format',
      'format-specific',
    ];
    expect(qemuKeyOrder(keys)).toEqual([
      'backing-filename-format',
      'virtual-size',
      'filename',
      'cluster-size',
      'format',
      'actual-size',
      'format-specific',
      'full-backing-filename',
      'backing-filename',
      'dirty-flag',
    ]);
  });

  it('orders qcow2 specific data and snapshot members as qemu-img does', () => {
    expect(
      qemuKeyOrder([
        'compat',
        'refcount-bits',
        'corrupt',
        'extended-l2',
        'bitmaps',
        'lazy-refcounts',
        'compression-type',
      ]),
    ).toEqual([
      'compat',
      'compression-type',
      'lazy-refcounts',
      'bitmaps',
      'refcount-bits',
      'corrupt',
      'extended-l2',
    ]);
    expect(
      qemuKeyOrder([
        'id',
        'name',
        'vm-state-size',
        'date-sec',
        'date-nsec',
        'vm-clock-sec',
        'vm-clock-nsec',
        'icount',
      ]),
    ).toEqual([
      'icount',
      'vm-clock-nsec',
      'name',
      'date-sec',
      'date-nsec',
      'vm-clock-sec',
      'id',
      'vm-state-size',
    ]);
  });
});

describe('toQemuJson', () => {
  it('pretty-prints with four spaces, breaking empty containers', () => {
    expect(toQemuJson({ a: [], b: {} })).toBe(toQemuJson({ b: {}, a: [] }));
    expect(toQemuJson([])).toBe('[\n]');
    expect(toQemuJson({ format: 'raw', 'virtual-size': 1 })).toBe(
      '{\n    "virtual-size": 1,\n    "format": "raw"\n}',
    );
  });

  it('escapes like QEMU (non-ASCII as uppercase \\u escapes, slashes kept)', () => {
    expect(toQemuJson('é"x/y\n')).toBe('"\\u00E9\\"x/y\\n"');
    expect(toQemuJson('😀')).toBe('"\\uD83D\\uDE00"');
  });

  it('omits undefined members', () => {
    expect(toQemuJson({ a: 1, b: undefined })).toBe('{\n    "a": 1\n}');
  });
});
