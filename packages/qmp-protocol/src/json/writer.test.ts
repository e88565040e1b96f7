import { describe, expect, it } from 'vitest';
import { formatDouble17g } from './format-double.js';
import { qemuKeyBucket, qemuKeyOrder } from './qemu-key-order.js';
import { encodeJson, encodeJsonString, encodeQmpMessage } from './writer.js';

describe('encodeJsonString (QEMU escaping)', () => {
  it('escapes the short forms, controls, DEL and non-ASCII with upper-case hex', () => {
    expect(encodeJsonString('"\\\b\f\n\r\t/')).toBe('"\\"\\\\\\b\\f\\n\\r\\t/"');
    expect(encodeJsonString('\u0000\u0007\u001f\u007f')).toBe('"\\u0000\\u0007\\u001F\\u007F"');
    expect(encodeJsonString('caf\u00e9 \u{1f600}')).toBe('"caf\\u00E9 \\uD83D\\uDE00"');
  });

  it('writes an unpaired surrogate as U+FFFD', () => {
    expect(encodeJsonString('a\ud800b\udc00')).toBe('"a\\uFFFDb\\uFFFD"');
  });
});

describe('formatDouble17g (printf %.17g)', () => {
  const cases: [number, string][] = [
    [3.5, '3.5'],
    [0.1, '0.10000000000000001'],
    [1.2345678901234569e23, '1.2345678901234569e+23'],
    [1e17, '1e+17'],
    [1e16, '10000000000000000'],
    [0.0001, '0.0001'],
    [0.00001, '1.0000000000000001e-05'],
    [-2.5e-300, '-2.5e-300'],
    [1e23, '9.9999999999999992e+22'],
    [-0, '-0'],
    [Number.POSITIVE_INFINITY, 'inf'],
  ];
  for (const [value, expected] of cases) {
    it(`${value} → ${expected}`, () => expect(formatDouble17g(value)).toBe(expected));
  }
});

describe('QEMU member order', () => {
  it('matches the orders seen on the wire', () => {
    expect(qemuKeyOrder(['return', 'id'])).toEqual(['return', 'id']);
    expect(qemuKeyOrder(['error', 'id'])).toEqual(['id', 'error']);
    expect(qemuKeyOrder(['event', 'data', 'timestamp'])).toEqual(['timestamp', 'event', 'data']);
    expect(qemuKeyOrder(['major', 'minor', 'micro'])).toEqual(['micro', 'minor', 'major']);
    expect(qemuKeyOrder(['id', 'type', 'status', 'current-progress', 'total-progress', 'error'])).toEqual([
      'current-progress',
      'status',
      'total-progress',
      'type',
      'id',
      'error',
    ]);
  });

  it('puts the later-inserted key first when two keys share a bucket', () => {
    expect(qemuKeyBucket('minor')).toBe(qemuKeyBucket('micro'));
    expect(qemuKeyOrder(['minor', 'micro'])).toEqual(['micro', 'minor']);
    expect(qemuKeyOrder(['micro', 'minor'])).toEqual(['minor', 'micro']);
  });
});

describe('encodeJson', () => {
  it('uses QEMU separators and empty containers', () => {
    expect(encodeJson({ a: [], b: {}, c: [1, 2.5, null, true] }, { keyOrder: 'insertion' })).toBe(
      '{"a": [], "b": {}, "c": [1, 2.5, null, true]}',
    );
  });

  it('writes bigints exactly and doubles with %.17g', () => {
    expect(encodeJson([12345678901234567890n, 0.1, 9007199254740991])).toBe(
      '[12345678901234567890, 0.10000000000000001, 9007199254740991]',
    );
  });

  it('frames a message with CR LF', () => {
    expect(encodeQmpMessage({ return: {}, id: 1 })).toBe('{"return": {}, "id": 1}\r\n');
    expect(encodeQmpMessage({ error: { class: 'GenericError', desc: 'x' }, id: 1 })).toBe(
      '{"id": 1, "error": {"class": "GenericError", "desc": "x"}}\r\n',
    );
  });
});
