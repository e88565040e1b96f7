import { describe, expect, it } from 'vitest';
import { JsonParseError } from '../errors.js';
import { type DecodedMessage, JsonStreamDecoder } from './decoder.js';

const utf8 = new TextEncoder();

/** Renders decoder output compactly: values as JSON (bigint as digits), errors as their message. */
function render(messages: DecodedMessage[]): string[] {
  return messages.map((m) =>
    m.kind === 'error'
      ? `error(${m.error.reason}): ${m.error.message}`
      : JSON.stringify(m.value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
  );
}

function decodeWhole(input: Uint8Array): string[] {
  return render(new JsonStreamDecoder().feed(input));
}

/** Feeds the input cut into pieces at the given offsets. */
function decodeSplit(input: Uint8Array, cuts: number[]): string[] {
  const decoder = new JsonStreamDecoder();
  const out: DecodedMessage[] = [];
  let start = 0;
  for (const cut of [...cuts, input.length]) {
    out.push(...decoder.feed(input.subarray(start, cut)));
    start = cut;
  }
  return render(out);
}

const STREAMS: Record<string, string> = {
  'one request': '{"execute":"query-jobs","id":1}',
  'two requests back to back': '{"execute":"qmp_capabilities"}{"execute":"query-jobs","id":1}',
  'reply and events interleaved':
    '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "JOB_STATUS_CHANGE", "data": {"status": "created", "id": "j"}}\r\n{"return": {}, "id": 5}\r\n{"timestamp": {"seconds": 1, "microseconds": 3}, "event": "BLOCK_JOB_READY", "data": {"device": "j", "len": 1048576, "offset": 1048576, "speed": 0, "type": "mirror"}}\r\n',
  'single quotes, escapes, unicode': `{'execute':'query-jobs','id':"caf\u00e9 \\u00e9 \\ud83d\\ude00 \\"q\\" \u{1f600}"}`,
  'numbers of every kind':
    '[0, -0, 12, -12, 3.5e0, 1E+2, 0.1, 12345678901234567890, -9223372036854775808, 1e400]',
  'parse error then recovery': '{"execute": \u0001 {"execute":"query-jobs","id":2}',
  nested: '{"a": [{"b": [[], {}]}, null, true, false], "c": {"d": {"e": "f"}}}',
  'scalars at top level': '42 "x" null true',
};

describe('JsonStreamDecoder split at every offset', () => {
  for (const [name, text] of Object.entries(STREAMS)) {
    it(`${name}: same messages whatever the cut`, () => {
      const input = utf8.encode(text);
      const whole = decodeWhole(input);
      expect(whole.length).toBeGreaterThan(0);
      for (let cut = 0; cut <= input.length; cut++) {
        expect(decodeSplit(input, [cut])).toEqual(whole);
      }
      // And byte by byte.
      expect(decodeSplit(input, [...input.keys()].slice(1))).toEqual(whole);
    });
  }

  it('two complete messages in one chunk come out in order', () => {
    expect(decodeWhole(utf8.encode('{"return": {}, "id": 1}\r\n{"return": [], "id": 2}\r\n'))).toEqual([
      '{"return":{},"id":1}',
      '{"return":[],"id":2}',
    ]);
  });
});

describe('JsonStreamDecoder values', () => {
  it('keeps int64/uint64 integers exact as bigint and turns larger ones into doubles', () => {
    expect(
      decodeWhole(utf8.encode('[9007199254740993, 12345678901234567890, 123456789012345678901234, -0]')),
    ).toEqual(['["9007199254740993n","12345678901234567890n",1.2345678901234569e+23,0]']);
    const [message] = new JsonStreamDecoder().feed(utf8.encode('[-0, -0.0]'));
    const [intZero, floatZero] = (message as { value: number[] }).value;
    expect(Object.is(intZero, 0)).toBe(true);
    expect(Object.is(floatZero, -0)).toBe(true);
  });

  it('decodes modified UTF-8 (C0 80 is U+0000) and surrogate pair escapes', () => {
    const [message] = new JsonStreamDecoder().feed(
      Uint8Array.from([...utf8.encode('"a'), 0xc0, 0x80, ...utf8.encode('\\uD83D\\uDE00"')]),
    );
    expect(message).toEqual({ kind: 'value', value: 'a\u0000\u{1f600}' });
  });

  it('keeps "__proto__" as an ordinary member', () => {
    const [message] = new JsonStreamDecoder().feed(utf8.encode('{"__proto__": {"polluted": true}}'));
    expect(message?.kind).toBe('value');
    const value = (message as { value: Record<string, unknown> }).value;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('JsonStreamDecoder errors (QEMU wording) and recovery', () => {
  const cases: [string, string | Uint8Array, string[]][] = [
    ['control byte', '{"execute": \u0001', ["error(lexical): JSON parse error, stray '\u0001'"]],
    [
      'unterminated object closed later',
      '{"execute": \n}',
      ['error(syntax): JSON parse error, expecting value'],
    ],
    ['separator missing in list', '[1}', ['error(syntax): JSON parse error, expected separator in list']],
    [
      'separator missing in object',
      '{"a" :1 "b":2}',
      ['error(syntax): JSON parse error, expected separator in dict'],
    ],
    ['key not a string', '{1:2}', ['error(syntax): JSON parse error, key is not a string in object']],
    ['missing colon', '{"a" 1}', ['error(syntax): JSON parse error, missing : in object pair']],
    ['trailing comma', '{"a":1,}', ['error(syntax): JSON parse error, expecting value']],
    ['duplicate key', '{"a":1,"a":2}', ['error(syntax): JSON parse error, duplicate key']],
    ['unknown keyword', '[tru]', ["error(syntax): JSON parse error, invalid keyword 'tru'"]],
    ['bad escape', '["\\q"]', ['error(syntax): JSON parse error, invalid escape sequence in string']],
    [
      'lone surrogate escape',
      '["\\ud800"]',
      ['error(syntax): JSON parse error, \\ud800 is not a valid Unicode character'],
    ],
    [
      'leading zero',
      '[01]',
      ["error(lexical): JSON parse error, stray '01'", 'error(syntax): JSON parse error, expecting value'],
    ],
    ['extra closing brace', '{}}', ['{}', 'error(syntax): JSON parse error, expecting value']],
    [
      'invalid UTF-8 outside a string',
      Uint8Array.from([0xc3, 0xa9, 0x20, 0x7b, 0x7d]),
      ["error(lexical): JSON parse error, stray '\ufffd'", '{}'],
    ],
    [
      'invalid UTF-8 in a string',
      Uint8Array.from([0x22, 0xed, 0xa0, 0x80, 0x22]),
      ['error(syntax): JSON parse error, invalid UTF-8 sequence in string'],
    ],
    [
      'non-character in a string',
      Uint8Array.from([0x22, 0xef, 0xbf, 0xbf, 0x22]),
      ['error(syntax): JSON parse error, invalid UTF-8 sequence in string'],
    ],
    [
      '0xFF resets the parser',
      Uint8Array.from([...utf8.encode('{"a": [1, '), 0xff, ...utf8.encode('{"b": 2}')]),
      ["error(lexical): JSON parse error, stray '\ufffd'", '{"b":2}'],
    ],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      expect(decodeWhole(typeof input === 'string' ? utf8.encode(input) : input)).toEqual(expected);
    });
  }

  it('errors are JsonParseError instances with a reason', () => {
    const [message] = new JsonStreamDecoder().feed(utf8.encode('}'));
    expect(message?.kind).toBe('error');
    const error = (message as { error: JsonParseError }).error;
    expect(error).toBeInstanceOf(JsonParseError);
    expect(error.reason).toBe('syntax');
  });
});

describe('JsonStreamDecoder bounds', () => {
  it('refuses nesting beyond the limit and each dangling closer after it', () => {
    const decoder = new JsonStreamDecoder({ maxDepth: 4 });
    expect(render(decoder.feed(utf8.encode('[[[[')))).toEqual([]);
    expect(render(decoder.feed(utf8.encode('[')))).toEqual([
      'error(nesting): JSON nesting depth limit exceeded',
    ]);
    expect(render(decoder.feed(utf8.encode(']]')))).toEqual([
      'error(syntax): JSON parse error, expecting value',
      'error(syntax): JSON parse error, expecting value',
    ]);
    expect(render(decoder.feed(utf8.encode('[[1]]')))).toEqual(['[[1]]']);
  });

  it('QEMU default depth: 1024 nested arrays pass, 1025 do not', () => {
    expect(decodeWhole(utf8.encode(`${'['.repeat(1024)}${']'.repeat(1024)}`))).toHaveLength(1);
    expect(decodeWhole(utf8.encode(`${'['.repeat(1025)}`))).toEqual([
      'error(nesting): JSON nesting depth limit exceeded',
    ]);
  });

  it('drops a token larger than the limit without holding it all, then decodes on', () => {
    const decoder = new JsonStreamDecoder({ maxTokenSize: 1000 });
    const out: DecodedMessage[] = [];
    out.push(...decoder.feed(utf8.encode('{"id": "')));
    for (let i = 0; i < 100; i++) out.push(...decoder.feed(utf8.encode('x'.repeat(1000))));
    out.push(...decoder.feed(utf8.encode('"}\n{"ok": 1}')));
    const rendered = render(out);
    expect(rendered[0]).toBe('error(token-size): JSON token size limit exceeded');
    expect(rendered).toContain('{"ok":1}');
    expect(decoder.pendingBytes).toBe(0);
  });

  it('refuses a message larger than the limit', () => {
    const decoder = new JsonStreamDecoder({ maxMessageSize: 100 });
    const items = Array.from({ length: 50 }, (_, i) => `"k${i}": ${i}`).join(', ');
    expect(render(decoder.feed(utf8.encode(`{${items}}`)))[0]).toBe(
      'error(message-size): JSON token size limit exceeded',
    );
    expect(render(decoder.feed(utf8.encode('{"small": 1}')))).toEqual(['{"small":1}']);
  });

  it('reports nesting the stack cannot hold as a nesting error even with the limit raised', () => {
    const depth = 50_000;
    const decoder = new JsonStreamDecoder({ maxDepth: depth * 2, maxTokenCount: depth * 4 });
    const out = render(decoder.feed(utf8.encode(`${'['.repeat(depth)}${']'.repeat(depth)}`)));
    expect(out).toEqual(['error(nesting): JSON nesting depth limit exceeded']);
  });

  it('refuses a message with too many tokens', () => {
    const decoder = new JsonStreamDecoder({ maxTokenCount: 10 });
    expect(render(decoder.feed(utf8.encode('[1,2,3,4,5,6]')))[0]).toBe(
      'error(token-count): JSON token count limit exceeded',
    );
  });

  it('survives random garbage: every output is a value or a typed error, and a request after it decodes', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 8;
    };
    for (let round = 0; round < 50; round++) {
      const garbage = Uint8Array.from({ length: 300 }, () => random() & 0xff);
      const decoder = new JsonStreamDecoder({ maxDepth: 32 });
      const out = decoder.feed(garbage);
      for (const message of out) {
        if (message.kind === 'error') expect(message.error).toBeInstanceOf(JsonParseError);
      }
      // 0xFF and a newline force the lexer back to a clean state, then a request goes through.
      const after = render(
        decoder.feed(Uint8Array.from([0xff, 0x0a, ...utf8.encode(']]]]]]]]]]}}}}}}}}}}\n{"execute":"x"}')])),
      );
      expect(after[after.length - 1]).toBe('{"execute":"x"}');
    }
  });
});
