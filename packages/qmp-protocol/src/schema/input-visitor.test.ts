import { describe, expect, it } from 'vitest';
import { QmpError } from '../errors.js';
import { QAPI_SCHEMA } from '../generated/qapi-schema.js';
import type { JsonObject } from '../json/json-value.js';
import { InputVisitor } from './input-visitor.js';
import { SchemaIndex } from './schema-index.js';

const schema = new SchemaIndex(QAPI_SCHEMA);

function check(command: string, args: JsonObject): string {
  const entity = schema.command(command);
  if (entity === undefined) throw new Error(`no command ${command}`);
  try {
    new InputVisitor(schema).visitArguments(entity['arg-type'], args);
    return 'ok';
  } catch (error) {
    if (error instanceof QmpError) return error.desc;
    throw error;
  }
}

describe('InputVisitor wording (as qemu-storage-daemon 7.2 answers)', () => {
  const cases: [string, string, JsonObject, string][] = [
    ['missing member', 'job-cancel', {}, "Parameter 'id' is missing"],
    ['wrong type', 'job-cancel', { id: 5 }, "Invalid parameter type for 'id', expected: string"],
    ['unexpected member', 'query-jobs', { bogus: 1 }, "Parameter 'bogus' is unexpected"],
    [
      'uint32 wrong type',
      'block-dirty-bitmap-add',
      { node: 'x', name: 'b', granularity: 'x' },
      "Parameter 'granularity' expects uint64",
    ],
    [
      'uint32 out of range',
      'block-dirty-bitmap-add',
      { node: 'x', name: 'b', granularity: 5000000000 },
      "Parameter 'granularity' expects uint32_t",
    ],
    [
      'uint32 negative',
      'block-dirty-bitmap-add',
      { node: 'x', name: 'b', granularity: -1 },
      "Parameter 'granularity' expects uint32_t",
    ],
    [
      'int float',
      'block_resize',
      { 'node-name': 'x', size: 1.5 },
      "Invalid parameter type for 'size', expected: integer",
    ],
    [
      'int beyond int64',
      'block_resize',
      { 'node-name': 'x', size: 18446744073709551615n },
      "Invalid parameter type for 'size', expected: integer",
    ],
    [
      'bool',
      'query-named-block-nodes',
      { flat: 'x' },
      "Invalid parameter type for 'flat', expected: boolean",
    ],
    [
      'nested enum uses the bare name',
      'blockdev-add',
      { driver: 'raw', 'node-name': 'n', file: { driver: 'bogus' } },
      "Parameter 'driver' does not accept value 'bogus'",
    ],
    [
      'alternate',
      'blockdev-add',
      { driver: 'raw', 'node-name': 'n', file: 5 },
      "Invalid parameter type for 'file', expected: BlockdevRef",
    ],
    [
      'alternate null',
      'blockdev-add',
      { driver: 'raw', 'node-name': 'n', file: null },
      "Invalid parameter type for 'file', expected: BlockdevRef",
    ],
    [
      'nested missing uses the path',
      'blockdev-add',
      { driver: 'raw', 'node-name': 'n', file: { driver: 'file' } },
      "Parameter 'file.filename' is missing",
    ],
    ['discriminator missing', 'blockdev-add', { 'node-name': 'n' }, "Parameter 'driver' is missing"],
    [
      'nested bool',
      'blockdev-add',
      { driver: 'null-co', 'node-name': 'n', cache: { direct: 'x' } },
      "Invalid parameter type for 'cache.direct', expected: boolean",
    ],
    [
      'object expected',
      'blockdev-add',
      { driver: 'null-co', 'node-name': 'n', cache: [] },
      "Invalid parameter type for 'cache', expected: object",
    ],
    [
      'array expected',
      'transaction',
      { actions: {} },
      "Invalid parameter type for 'actions', expected: array",
    ],
    [
      'list element path',
      'transaction',
      { actions: [5] },
      "Invalid parameter type for 'actions[0]', expected: object",
    ],
    [
      'list element member path',
      'transaction',
      { actions: [{ data: {} }] },
      "Parameter 'actions[0].type' is missing",
    ],
    [
      'alternate in a list is named null',
      'block-dirty-bitmap-merge',
      { node: 'x', target: 'b', bitmaps: [5] },
      "Invalid parameter type for 'null', expected: BlockDirtyBitmapOrStr",
    ],
    [
      'legacy socket address',
      'nbd-server-start',
      { addr: { type: 'unix', path: '/x' } },
      "Parameter 'addr.data' is missing",
    ],
    [
      'size wrong type',
      'blockdev-create',
      { 'job-id': 'j', options: { driver: 'file', filename: '/x', size: 'x' } },
      "Parameter 'options.size' expects uint64",
    ],
    [
      'nested uint64',
      'blockdev-add',
      { driver: 'raw', 'node-name': 'n', file: { driver: 'null-co', 'latency-ns': 'x' } },
      "Parameter 'file.latency-ns' expects uint64",
    ],
    [
      'int32 range uses the bare name',
      'blockdev-add',
      {
        driver: 'raw',
        'node-name': 'n',
        file: { driver: 'blkdebug', image: 'x', 'max-transfer': 5000000000 },
      },
      "Parameter 'max-transfer' expects int32_t",
    ],
    [
      'capability enum in a list',
      'qmp_capabilities',
      { enable: ['bogus'] },
      "Parameter 'null' does not accept value 'bogus'",
    ],
    [
      'valid blockdev-add',
      'blockdev-add',
      { driver: 'null-co', 'node-name': 'n', size: 1048576, 'read-zeroes': true },
      'ok',
    ],
    ['valid transaction', 'transaction', { actions: [{ type: 'abort', data: {} }] }, 'ok'],
  ];
  for (const [name, command, args, expected] of cases) {
    it(name, () => expect(check(command, args)).toBe(expected));
  }

  it('reports the first unknown member in GLib hash-table order', () => {
    expect(
      check('blockdev-add', {
        driver: 'raw',
        'node-name': 'n',
        file: { driver: 'file', filename: '/x', bogus: 1, zzz: 2 },
      }),
    ).toBe("Parameter 'file.zzz' is unexpected");
    expect(check('query-jobs', { alpha: 1, beta: 2, gamma: 3 })).toBe("Parameter 'beta' is unexpected");
    expect(check('query-jobs', { q: 1, w: 2 })).toBe("Parameter 'w' is unexpected");
    const many: JsonObject = { driver: 'null-co', 'node-name': 'n' };
    for (const [i, key] of [
      'zz',
      'yy',
      'xx',
      'ww',
      'vv',
      'uu',
      'tt',
      'ss',
      'rr',
      'qq',
      'pp',
      'oo',
      'nn',
      'mm',
      'll',
      'kk',
      'jj',
      'ii',
    ].entries()) {
      many[key] = i;
    }
    // Enough keys to make GLib grow its table.
    expect(check('blockdev-add', many)).toBe("Parameter 'tt' is unexpected");
  });

  it('treats members set to undefined as absent', () => {
    const out = new InputVisitor(schema).visitArguments('BlockdevOptions', {
      driver: 'null-co',
      'node-name': 'n',
      size: undefined as unknown as number,
    });
    expect(out).toEqual({ driver: 'null-co', 'node-name': 'n' });
    expect(check('job-cancel', { id: undefined as unknown as string })).toBe("Parameter 'id' is missing");
  });

  it('returns members in schema order with flat-union variant members after the base', () => {
    const visitor = new InputVisitor(schema);
    const out = visitor.visitArguments('BlockdevOptions', {
      'read-zeroes': true,
      'node-name': 'n',
      driver: 'null-co',
    });
    expect(Object.keys(out)).toEqual(['driver', 'node-name', 'read-zeroes']);
  });
});

describe('InputVisitor in keyval mode', () => {
  const visit = (args: JsonObject): JsonObject | string => {
    try {
      return new InputVisitor(schema, 'keyval').visitArguments('BlockdevOptions', args);
    } catch (error) {
      if (error instanceof QmpError) return error.desc;
      throw error;
    }
  };

  it('converts strings to integers and booleans as the schema types them', () => {
    expect(visit({ driver: 'null-co', 'node-name': 'n', size: '1048576', 'read-zeroes': 'on' })).toEqual({
      driver: 'null-co',
      'node-name': 'n',
      size: 1048576,
      'read-zeroes': true,
    });
  });

  it('words conversion failures like QEMU', () => {
    expect(visit({ driver: 'null-co', 'node-name': 'n', size: 'big' })).toBe(
      "Parameter 'size' expects integer",
    );
    expect(visit({ driver: 'null-co', 'node-name': 'n', 'read-zeroes': 'maybe' })).toBe(
      "Parameter 'read-zeroes' expects 'on' or 'off'",
    );
  });
});
