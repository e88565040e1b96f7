import { describe, expect, it } from 'vitest';
import { JsonStreamDecoder } from './decoder.js';
import type { JsonObject, JsonValue } from './json-value.js';
import { encodeQmpMessage } from './writer.js';

/** Small seeded generator so failures reproduce. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function randomString(random: () => number): string {
  const length = Math.floor(random() * 12);
  let out = '';
  for (let i = 0; i < length; i++) {
    const pick = random();
    if (pick < 0.5) out += String.fromCharCode(0x20 + Math.floor(random() * 95));
    else if (pick < 0.6) out += String.fromCharCode(Math.floor(random() * 0x20));
    else if (pick < 0.8) out += String.fromCharCode(0xa0 + Math.floor(random() * 0xd000));
    else if (pick < 0.9) out += String.fromCodePoint(0x10000 + Math.floor(random() * 0xfff0));
    else out += '"\\/\'';
  }
  return out;
}

function randomValue(random: () => number, depth: number): JsonValue {
  const pick = random();
  if (depth > 4 || pick < 0.45) {
    const scalar = Math.floor(random() * 7);
    switch (scalar) {
      case 0:
        return null;
      case 1:
        return random() < 0.5;
      case 2:
        return Math.floor((random() - 0.5) * 2 ** 40);
      case 3:
        return (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20);
      case 4:
        return BigInt(Math.floor(random() * 2 ** 31)) * 2n ** 32n + 2n ** 62n;
      default:
        return randomString(random);
    }
  }
  if (pick < 0.7)
    return Array.from({ length: Math.floor(random() * 5) }, () => randomValue(random, depth + 1));
  const object: JsonObject = {};
  const size = Math.floor(random() * 6);
  for (let i = 0; i < size; i++) object[`${randomString(random)}${i}`] = randomValue(random, depth + 1);
  return object;
}

describe('encode then decode', () => {
  it('gives back every value (strings, doubles via %.17g, uint64 bigints, nesting)', () => {
    const utf8 = new TextEncoder();
    for (let seed = 1; seed <= 300; seed++) {
      const value = randomValue(generator(seed), 0);
      const decoded = new JsonStreamDecoder().feed(utf8.encode(encodeQmpMessage(value)));
      expect({ seed, decoded }).toEqual({ seed, decoded: [{ kind: 'value', value }] });
    }
  });
});
