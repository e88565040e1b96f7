import { describe, expect, it } from 'vitest';
import { KeyvalError } from '../errors.js';
import { parseKeyval } from './keyval-parse.js';
import { parseOptionArgument } from './option-argument.js';

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'no error';
  } catch (error) {
    if (error instanceof KeyvalError) return error.message;
    throw error;
  }
};

describe('parseKeyval', () => {
  it('builds nested objects from dotted keys', () => {
    expect(parseKeyval('driver=qcow2,file.driver=file,file.filename=disk.qcow2')).toEqual({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'disk.qcow2' },
    });
  });

  it('reads ",," as a literal comma and allows empty values', () => {
    expect(parseKeyval('filename=a,,b,,,x=')).toEqual({ filename: 'a,b,', x: '' });
  });

  it('turns index keys into lists', () => {
    expect(parseKeyval('a.0=x,a.1.b=y,a.1.c=z')).toEqual({ a: ['x', { b: 'y', c: 'z' }] });
  });

  it('uses the implied key for a leading element without "="', () => {
    expect(parseKeyval('nbd,id=e,node-name=n', { impliedKey: 'type' })).toEqual({
      type: 'nbd',
      id: 'e',
      'node-name': 'n',
    });
    expect(parseKeyval('socket,id=m,path=/tmp/x', { impliedKey: 'backend' })).toEqual({
      backend: 'socket',
      id: 'm',
      path: '/tmp/x',
    });
  });

  it('lets a repeated key take the last value', () => {
    expect(parseKeyval('a=1,a=2')).toEqual({ a: '2' });
  });

  it("words errors like QEMU's keyval parser", () => {
    expect(errorOf(() => parseKeyval('driver=null-co,node-name'))).toBe(
      "Expected '=' after parameter 'node-name'",
    );
    expect(errorOf(() => parseKeyval('cache.direct=on,cache=1'))).toBe(
      "Parameters 'cache.*' used inconsistently",
    );
    expect(errorOf(() => parseKeyval('a.0=x,a.2=y'))).toBe("Parameter 'a.1' missing");
    expect(errorOf(() => parseKeyval('a.0=x,a.b=y'))).toBe("Parameters 'a.*' used inconsistently");
    expect(errorOf(() => parseKeyval('1a=2'))).toBe("Invalid parameter '1a'");
    expect(errorOf(() => parseKeyval('a..b=2'))).toBe("Invalid parameter 'a..b'");
    expect(errorOf(() => parseKeyval(`${'k'.repeat(200)}=1`))).toBe(
      `Parameter '${'k'.repeat(200)}' is too long`,
    );
  });
});

describe('parseOptionArgument', () => {
  it('converts a --blockdev string with the schema', () => {
    expect(
      parseOptionArgument('driver=null-co,node-name=n0,size=1048576,read-zeroes=on', 'BlockdevOptions'),
    ).toEqual({
      driver: 'null-co',
      'node-name': 'n0',
      size: 1048576,
      'read-zeroes': true,
    });
  });

  it('handles the JSON form with QMP typing', () => {
    expect(
      parseOptionArgument(
        '{"driver":"raw","node-name":"r","file":{"driver":"file","filename":"x.img"}}',
        'BlockdevOptions',
      ),
    ).toEqual({ driver: 'raw', 'node-name': 'r', file: { driver: 'file', filename: 'x.img' } });
    expect(
      errorOf(() =>
        parseOptionArgument('{"driver":"null-co","node-name":"n","size":"1"}', 'BlockdevOptions'),
      ),
    ).toBe("Invalid parameter type for 'size', expected: integer");
  });

  it('converts sizes with suffixes where the schema says size', () => {
    const options = parseOptionArgument('driver=file,filename=/tmp/x,size=1M', 'BlockdevCreateOptions');
    expect(options['size']).toBe(1048576);
  });

  it('reports schema errors with QEMU wording', () => {
    expect(errorOf(() => parseOptionArgument('driver=null-co,node-name=n,size=big', 'BlockdevOptions'))).toBe(
      "Parameter 'size' expects integer",
    );
    expect(errorOf(() => parseOptionArgument('driver=null-co,node-name=n,bogus=1', 'BlockdevOptions'))).toBe(
      "Parameter 'bogus' is unexpected",
    );
    expect(
      errorOf(() => parseOptionArgument('driver=null-co,node-name=n,detect-zeroes=bad', 'BlockdevOptions')),
    ).toBe("Parameter 'detect-zeroes' does not accept value 'bad'");
    expect(
      errorOf(() =>
        parseOptionArgument('nbd,id=e,node-name=n,writable=x', 'BlockExportOptions', { impliedKey: 'type' }),
      ),
    ).toBe("Parameter 'writable' expects 'on' or 'off'");
  });

  it('reads the legacy-free NBD server and export options', () => {
    expect(
      parseOptionArgument('addr.type=unix,addr.path=/tmp/nbd.sock,max-connections=4', 'NbdServerOptions'),
    ).toEqual({
      addr: { type: 'unix', path: '/tmp/nbd.sock' },
      'max-connections': 4,
    });
  });
});
