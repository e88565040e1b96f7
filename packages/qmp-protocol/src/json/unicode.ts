/**
 * Code-point rules QEMU applies to JSON strings: input is "modified UTF-8" (U+0000 may be written
 * as C0 80), and surrogates, non-characters and overlong forms are refused.
 */

/** Whether QEMU accepts this code point in a string (not a surrogate, not a non-character). */
export function isValidCodePoint(cp: number): boolean {
  if (cp < 0 || cp > 0x10ffff) return false;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  return true;
}

/**
 * Decodes one code point at `bytes[pos]`. Returns the code point (or -1 when the sequence is
 * invalid) and the position after the bytes it spans; an invalid sequence spans at least one byte.
 */
export function decodeModifiedUtf8(bytes: Uint8Array, pos: number, end: number): [number, number] {
  const first = bytes[pos]!;
  if (first < 0x80) return [first, pos + 1];
  let count: number;
  let cp: number;
  let min: number;
  if ((first & 0xe0) === 0xc0) {
    count = 1;
    cp = first & 0x1f;
    min = 0x80;
  } else if ((first & 0xf0) === 0xe0) {
    count = 2;
    cp = first & 0x0f;
    min = 0x800;
  } else if ((first & 0xf8) === 0xf0) {
    count = 3;
    cp = first & 0x07;
    min = 0x10000;
  } else {
    return [-1, pos + 1];
  }
  let next = pos + 1;
  for (let i = 0; i < count; i++) {
    if (next >= end || (bytes[next]! & 0xc0) !== 0x80) return [-1, next];
    cp = (cp << 6) | (bytes[next]! & 0x3f);
    next++;
  }
  // C0 80 is modified UTF-8's way of writing U+0000; every other overlong form is invalid.
  if (cp < min && !(count === 1 && cp === 0)) return [-1, next];
  if (!isValidCodePoint(cp)) return [-1, next];
  return [cp, next];
}

/**
 * Turns raw bytes into a string the way QEMU's JSON writer reads them: valid sequences become
 * their characters, each invalid one becomes U+FFFD.
 */
export function decodeLenient(bytes: Uint8Array): string {
  let out = '';
  let pos = 0;
  while (pos < bytes.length) {
    const [cp, next] = decodeModifiedUtf8(bytes, pos, bytes.length);
    out += String.fromCodePoint(cp < 0 ? 0xfffd : cp);
    pos = next;
  }
  return out;
}
