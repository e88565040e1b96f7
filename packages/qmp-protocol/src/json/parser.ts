import { JsonParseError } from '../errors.js';
import type { JsonToken } from './lexer.js';
import { type JsonObject, type JsonValue, setMember } from './json-value.js';
import { decodeModifiedUtf8, isValidCodePoint } from './unicode.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const latin1 = new TextDecoder('latin1');

class SyntaxFailure extends Error {}

/**
 * Builds one JSON value from the tokens of one complete message. The token list is balanced (or
 * became unbalanced by a closing bracket); errors are reported with QEMU's wording, first error
 * wins.
 */
export function parseTokens(tokens: readonly JsonToken[]): JsonValue {
  const parser = new TokenParser(tokens);
  try {
    return parser.parseValue();
  } catch (error) {
    if (error instanceof SyntaxFailure) {
      throw new JsonParseError('syntax', `JSON parse error, ${error.message}`);
    }
    // Only reachable when a caller raised the depth limit beyond what the stack holds.
    if (error instanceof RangeError) throw new JsonParseError('nesting', 'JSON nesting depth limit exceeded');
    throw error;
  }
}

class TokenParser {
  private pos = 0;
  constructor(private readonly tokens: readonly JsonToken[]) {}

  private peek(): JsonToken {
    const token = this.tokens[this.pos];
    if (token === undefined) throw new SyntaxFailure('premature EOI');
    return token;
  }

  private pop(): JsonToken {
    const token = this.peek();
    this.pos++;
    return token;
  }

  parseValue(): JsonValue {
    const token = this.peek();
    switch (token.type) {
      case 'lcurly':
        return this.parseObject();
      case 'lsquare':
        return this.parseArray();
      case 'integer':
      case 'float':
        this.pos++;
        return parseNumber(token);
      case 'string':
        this.pos++;
        return parseString(token.bytes);
      case 'keyword':
        this.pos++;
        return parseKeyword(token.bytes);
      default:
        throw new SyntaxFailure('expecting value');
    }
  }

  private parseObject(): JsonObject {
    this.pop();
    const object: JsonObject = {};
    if (this.peek().type === 'rcurly') {
      this.pop();
      return object;
    }
    this.parsePair(object);
    let token = this.pop();
    while (token.type !== 'rcurly') {
      if (token.type !== 'comma') throw new SyntaxFailure('expected separator in dict');
      this.parsePair(object);
      token = this.pop();
    }
    return object;
  }

  private parsePair(object: JsonObject): void {
    this.peek();
    const key = this.parseValue();
    if (typeof key !== 'string') throw new SyntaxFailure('key is not a string in object');
    if (this.pop().type !== 'colon') throw new SyntaxFailure('missing : in object pair');
    const value = this.parseValue();
    if (Object.hasOwn(object, key)) throw new SyntaxFailure('duplicate key');
    setMember(object, key, value);
  }

  private parseArray(): JsonValue[] {
    this.pop();
    const list: JsonValue[] = [];
    if (this.peek().type === 'rsquare') {
      this.pop();
      return list;
    }
    list.push(this.parseValue());
    let token = this.pop();
    while (token.type !== 'rsquare') {
      if (token.type !== 'comma') throw new SyntaxFailure('expected separator in list');
      list.push(this.parseValue());
      token = this.pop();
    }
    return list;
  }
}

function parseKeyword(bytes: Uint8Array): JsonValue {
  const word = latin1.decode(bytes);
  if (word === 'true') return true;
  if (word === 'false') return false;
  if (word === 'null') return null;
  throw new SyntaxFailure(`invalid keyword '${word}'`);
}

/** Integers become int64, else uint64, else a double, exactly as QEMU's parser ranks them. */
function parseNumber(token: JsonToken): number | bigint {
  const text = latin1.decode(token.bytes);
  if (token.type === 'integer') {
    const big = BigInt(text);
    if (big >= INT64_MIN && big <= INT64_MAX) {
      return big >= -SAFE_MAX && big <= SAFE_MAX ? Number(big) : big;
    }
    if (big > 0n && big <= UINT64_MAX) return big;
  }
  return Number(text);
}

function hex4(bytes: Uint8Array, pos: number, end: number): number {
  if (pos + 4 > end) return -1;
  let cp = 0;
  for (let i = 0; i < 4; i++) {
    const c = bytes[pos + i]!;
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x37;
    else return -1;
    cp = (cp << 4) | digit;
  }
  return cp;
}

const SIMPLE_ESCAPES: Record<number, string> = {
  34: '"',
  39: "'",
  92: '\\',
  47: '/',
  98: '\b',
  102: '\f',
  110: '\n',
  114: '\r',
  116: '\t',
};

/** Decodes a quoted string token (either quote), validating escapes and modified UTF-8. */
function parseString(bytes: Uint8Array): string {
  const end = bytes.length - 1;
  let pos = 1;
  let out = '';
  while (pos < end) {
    const b = bytes[pos]!;
    if (b === 0x5c) {
      const begin = pos;
      const escapeByte = bytes[pos + 1]!;
      pos += 2;
      const simple = SIMPLE_ESCAPES[escapeByte];
      if (simple !== undefined) {
        out += simple;
        continue;
      }
      if (escapeByte !== 0x75) throw new SyntaxFailure('invalid escape sequence in string');
      let cp = hex4(bytes, pos, end);
      pos += 4;
      if (cp >= 0xd800 && cp <= 0xdbff && bytes[pos] === 0x5c && bytes[pos + 1] === 0x75) {
        const trailing = hex4(bytes, pos + 2, end);
        if (trailing >= 0xdc00 && trailing <= 0xdfff) {
          cp = 0x10000 + ((cp & 0x3ff) << 10) + (trailing & 0x3ff);
          pos += 6;
        } else {
          cp = -1;
        }
      }
      if (!isValidCodePoint(cp)) {
        const shown = latin1.decode(bytes.subarray(begin, Math.min(pos, bytes.length)));
        throw new SyntaxFailure(`${shown} is not a valid Unicode character`);
      }
      out += String.fromCodePoint(cp);
      continue;
    }
    const [cp, after] = decodeModifiedUtf8(bytes, pos, end);
    if (cp < 0) throw new SyntaxFailure('invalid UTF-8 sequence in string');
    out += String.fromCodePoint(cp);
    pos = after;
  }
  return out;
}
