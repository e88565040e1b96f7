import { describe, expect, it } from 'vitest';
import { UsageError } from './errors.js';
import { getopt, OptionBag, type OptionSpec } from './getopt.js';

const specs: OptionSpec[] = [
  { short: 'f', long: 'format', value: true },
  { short: 'p', value: false, key: 'progress' },
  { short: 'q', value: false, key: 'quiet' },
  { long: 'output', value: true },
  { long: 'backing-chain', value: false },
];

describe('getopt', () => {
  it('permutes options and operands like GNU getopt_long', () => {
    const parsed = getopt(['a.img', '-f', 'qcow2', 'b.img', '--output=json'], specs);
    expect(parsed.positionals).toEqual(['a.img', 'b.img']);
    expect(parsed.options).toEqual([
      { key: 'format', value: 'qcow2' },
      { key: 'output', value: 'json' },
    ]);
  });

  it('accepts attached values, clustered flags and a separate long value', () => {
    const parsed = getopt(['-pqfraw', '--output', 'human', 'x'], specs);
    expect(parsed.options.map((o) => [o.key, o.value])).toEqual([
      ['progress', undefined],
      ['quiet', undefined],
      ['format', 'raw'],
      ['output', 'human'],
    ]);
    expect(parsed.positionals).toEqual(['x']);
  });

  it('resolves unambiguous prefixes of long options', () => {
    expect(getopt(['--out=json'], specs).options).toEqual([{ key: 'output', value: 'json' }]);
    expect(getopt(['--back'], specs).options).toEqual([{ key: 'backing-chain', value: undefined }]);
  });

  it('treats everything after -- as operands', () => {
    expect(getopt(['--', '-p', 'x'], specs).positionals).toEqual(['-p', 'x']);
  });

  it('reports unknown options and missing values with qemu-img wording', () => {
    expect(() => getopt(['--foo'], specs)).toThrow(new UsageError("unrecognized option '--foo'"));
    expect(() => getopt(['-z'], specs)).toThrow(new UsageError("unrecognized option '-z'"));
    expect(() => getopt(['-f'], specs)).toThrow(new UsageError("missing argument for option '-f'"));
    expect(() => getopt(['--backing-chain=1'], specs)).toThrow(/doesn't allow an argument/);
  });

  it('keeps the last value and every occurrence in order', () => {
    const bag = new OptionBag(getopt(['-f', 'raw', '-f', 'qcow2', '-p'], specs).options);
    expect(bag.last('format')).toBe('qcow2');
    expect(bag.all('format')).toEqual(['raw', 'qcow2']);
    expect(bag.has('progress')).toBe(true);
    expect(bag.has('quiet')).toBe(false);
  });
});
