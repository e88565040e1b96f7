import { ImageError } from './errors.js';

/** Smallest granularity QEMU accepts for a dirty bitmap (2^9). */
export const MIN_BITMAP_GRANULARITY = 512;
/** Largest granularity QEMU accepts for a dirty bitmap (2^31). */
export const MAX_BITMAP_GRANULARITY = 2 ** 31;

/** Options for {@link DirtyBitmap}. */
export interface DirtyBitmapOptions {
  /** Bytes covered by one bit: a power of two from 512 B to 2 GiB. */
  granularity: number;
  /** Bytes of the disk the bitmap covers (the virtual size). */
  size: number;
  /** Whether writes are recorded; defaults to true, as for a new bitmap in QEMU. */
  enabled?: boolean;
}

/** One run of dirty bytes, clipped to the range that was asked for. */
export interface DirtyExtent {
  offset: number;
  length: number;
}

// A bitmap this large (2^31 words, 8 GiB) would not fit in memory anyway; refuse early
// with a typed error instead of a RangeError from the allocator.
const MAX_WORDS = 2 ** 31;

/**
 * An in-memory dirty bitmap: one bit per `granularity` bytes of a disk of `size` bytes.
 * A set bit means "written since tracking started". Bits live in 32-bit words, so ranges
 * are set, cleared, counted and searched a word at a time.
 *
 * Granule `n` is bit `n % 32` of word `n / 32`, which is exactly qcow2's on-disk order
 * (LSB first within each byte, bytes in ascending order) read as little-endian words.
 */
export class DirtyBitmap {
  readonly granularity: number;
  /** Whether guest writes are recorded (QEMU's "recording"; the qcow2 `auto` flag). */
  enabled: boolean;
  private sizeBytes: number;
  private granules: number;
  private words: Uint32Array;
  private dirtyGranules = 0;

  constructor(options: DirtyBitmapOptions) {
    checkGranularity(options.granularity);
    checkSize(options.size);
    this.granularity = options.granularity;
    this.enabled = options.enabled ?? true;
    this.sizeBytes = options.size;
    this.granules = Math.ceil(options.size / options.granularity);
    this.words = allocateWords(this.granules);
  }

  /** Bytes of disk covered. */
  get size(): number {
    return this.sizeBytes;
  }

  /** Number of bits (granules), the last one possibly covering less than a full granule. */
  get granuleCount(): number {
    return this.granules;
  }

  /**
   * Dirty bytes as QEMU reports them (`count` in query-block): dirty granules times the
   * granularity. Like QEMU, a dirty last granule counts in full even when the disk ends
   * inside it.
   */
  count(): number {
    return this.dirtyGranules * this.granularity;
  }

  /** Number of dirty granules (set bits). */
  dirtyGranuleCount(): number {
    return this.dirtyGranules;
  }

  /** Marks every granule touching [offset, offset+length) dirty. */
  set(offset: number, length: number): void {
    const [first, end] = this.granuleRange(offset, length);
    this.fill(first, end, true);
  }

  /** Marks every granule touching [offset, offset+length) clean. */
  reset(offset: number, length: number): void {
    const [first, end] = this.granuleRange(offset, length);
    this.fill(first, end, false);
  }

  /** Whether the granule holding byte `offset` is dirty. */
  get(offset: number): boolean {
    this.checkOffset(offset);
    if (offset >= this.sizeBytes) return false;
    return this.bit(Math.floor(offset / this.granularity));
  }

  /** Clears every bit. */
  clear(): void {
    this.words.fill(0);
    this.dirtyGranules = 0;
  }

  /** Sets every bit. */
  setAll(): void {
    this.fill(0, this.granules, true);
  }

  /**
   * The first dirty byte at or after `offset` and before `end` (default: the disk size):
   * `offset` itself when its granule is dirty, otherwise the start of the next dirty
   * granule. -1 when there is none.
   */
  nextDirty(offset: number, end = this.sizeBytes): number {
    return this.nextWithValue(offset, end, true);
  }

  /** Like {@link nextDirty}, for the first clean byte. */
  nextClean(offset: number, end = this.sizeBytes): number {
    return this.nextWithValue(offset, end, false);
  }

  /** Coalesced dirty runs inside [offset, offset+length), in ascending order. */
  *extents(offset = 0, length = this.sizeBytes - offset): Generator<DirtyExtent> {
    this.checkOffset(offset);
    const end = Math.min(this.sizeBytes, offset + Math.max(0, length));
    let position = offset;
    while (position < end) {
      const start = this.nextDirty(position, end);
      if (start < 0) return;
      const clean = this.nextClean(start, end);
      const stop = clean < 0 ? end : clean;
      yield { offset: start, length: stop - start };
      position = stop;
    }
  }

  /** ORs `other` into this bitmap. Both must have the same granularity and size. */
  merge(other: DirtyBitmap): void {
    if (other.granularity !== this.granularity || other.sizeBytes !== this.sizeBytes) {
      throw new ImageError(
        'invalid-argument',
        `Bitmaps of different granularity or size cannot be merged (${other.granularity}/${other.sizeBytes} into ${this.granularity}/${this.sizeBytes})`,
      );
    }
    let dirty = 0;
    const words = this.words;
    const source = other.words;
    for (let i = 0; i < words.length; i++) {
      const merged = (words[i]! | source[i]!) >>> 0;
      words[i] = merged;
      dirty += popcount32(merged);
    }
    this.dirtyGranules = dirty;
  }

  /** An independent copy with the same bits, granularity, size and enabled state. */
  copy(): DirtyBitmap {
    const twin = new DirtyBitmap({
      granularity: this.granularity,
      size: this.sizeBytes,
      enabled: this.enabled,
    });
    twin.words.set(this.words);
    twin.dirtyGranules = this.dirtyGranules;
    return twin;
  }

  /**
   * Follows a disk resize. Growing adds clean granules; shrinking drops the bits past the
   * new end, so a later grow does not bring them back.
   */
  resize(newSize: number): void {
    checkSize(newSize);
    const granules = Math.ceil(newSize / this.granularity);
    if (granules < this.granules) this.fill(granules, this.granules, false);
    const words = allocateWords(granules);
    words.set(this.words.subarray(0, Math.min(words.length, this.words.length)));
    this.words = words;
    this.granules = granules;
    this.sizeBytes = newSize;
  }

  /** Whether every granule in [firstGranule, firstGranule+count) is clean. */
  isGranuleRangeClear(firstGranule: number, count: number): boolean {
    const [a, b] = this.checkGranuleRange(firstGranule, count);
    return this.findBit(a, b, true) < 0;
  }

  /** Whether every granule in [firstGranule, firstGranule+count) is dirty. */
  isGranuleRangeFull(firstGranule: number, count: number): boolean {
    const [a, b] = this.checkGranuleRange(firstGranule, count);
    return this.findBit(a, b, false) < 0;
  }

  /** Sets or clears the granules [firstGranule, firstGranule+count). */
  fillGranules(firstGranule: number, count: number, dirty: boolean): void {
    const [a, b] = this.checkGranuleRange(firstGranule, count);
    this.fill(a, b, dirty);
  }

  /**
   * The granules [firstGranule, firstGranule+count) in qcow2's bitmap data order: granule
   * `firstGranule + n` is bit `n % 8` (from the least significant) of byte `n / 8`. Bits
   * past `count` in the last byte are zero, as the format requires for unused tail bits.
   */
  serialize(firstGranule: number, count: number): Uint8Array {
    const [a, b] = this.checkGranuleRange(firstGranule, count);
    const out = new Uint8Array(Math.ceil((b - a) / 8));
    let g = a;
    let i = 0;
    // Four bytes per step from a 32-bit window; the last step may be partial.
    while (g < b) {
      const bits = Math.min(32, b - g);
      const value = this.readBits(g, bits);
      for (let k = 0; k < bits; k += 8) out[i++] = (value >>> k) & 0xff;
      g += bits;
    }
    return out;
  }

  /**
   * Loads [firstGranule, firstGranule+count) from bytes in qcow2 order (see
   * {@link serialize}), replacing what those granules held. Tail bits past `count` in the
   * last byte are ignored.
   */
  deserialize(bytes: Uint8Array, firstGranule: number, count: number): void {
    const [a, b] = this.checkGranuleRange(firstGranule, count);
    if (bytes.length < Math.ceil((b - a) / 8)) {
      throw new ImageError('invalid-argument', `${bytes.length} bytes cannot hold ${b - a} bitmap granules`);
    }
    let g = a;
    let i = 0;
    while (g < b) {
      const bits = Math.min(32, b - g);
      let value = 0;
      for (let k = 0; k < bits; k += 8) value |= bytes[i++]! << k;
      this.writeBits(g, bits, value >>> 0);
      g += bits;
    }
  }

  // --- word-level machinery -------------------------------------------------------------

  private bit(granule: number): boolean {
    const w = Math.floor(granule / 32);
    return ((this.words[w]! >>> (granule - w * 32)) & 1) === 1;
  }

  /** Up to 32 bits starting at `granule`, as an unsigned number (bit 0 = that granule). */
  private readBits(granule: number, bits: number): number {
    const w = Math.floor(granule / 32);
    const shift = granule - w * 32;
    let value = this.words[w]! >>> shift;
    if (shift !== 0 && bits > 32 - shift) value |= this.words[w + 1]! << (32 - shift);
    return (bits === 32 ? value : value & lowMask(bits)) >>> 0;
  }

  /** Replaces `bits` (≤ 32) granules starting at `granule` with the low bits of `value`. */
  private writeBits(granule: number, bits: number, value: number): void {
    let remaining = bits;
    let g = granule;
    let v = bits === 32 ? value : value & lowMask(bits);
    while (remaining > 0) {
      const w = Math.floor(g / 32);
      const shift = g - w * 32;
      const take = Math.min(remaining, 32 - shift);
      const mask = (take === 32 ? 0xffffffff : lowMask(take) << shift) >>> 0;
      const old = this.words[w]!;
      const updated = ((old & ~mask) | ((v << shift) & mask)) >>> 0;
      this.words[w] = updated;
      this.dirtyGranules += popcount32(updated) - popcount32(old);
      v = take === 32 ? 0 : v >>> take;
      remaining -= take;
      g += take;
    }
  }

  /** Sets or clears granules [a, b), a word at a time, keeping the dirty count exact. */
  private fill(a: number, b: number, dirty: boolean): void {
    if (a >= b) return;
    const words = this.words;
    const firstWord = Math.floor(a / 32);
    const lastWord = Math.floor((b - 1) / 32);
    const headMask = (0xffffffff << (a - firstWord * 32)) >>> 0;
    const tailBits = b - lastWord * 32;
    const tailMask = tailBits === 32 ? 0xffffffff : lowMask(tailBits);
    let delta = 0;
    for (let w = firstWord; w <= lastWord; w++) {
      let mask = 0xffffffff;
      if (w === firstWord) mask &= headMask;
      if (w === lastWord) mask &= tailMask;
      mask >>>= 0;
      const old = words[w]!;
      const updated = (dirty ? old | mask : old & ~mask) >>> 0;
      if (updated !== old) {
        words[w] = updated;
        delta += popcount32(updated) - popcount32(old);
      }
    }
    this.dirtyGranules += delta;
  }

  /** The first granule in [a, b) whose bit equals `dirty`, or -1. */
  private findBit(a: number, b: number, dirty: boolean): number {
    if (a >= b) return -1;
    const words = this.words;
    const firstWord = Math.floor(a / 32);
    const lastWord = Math.floor((b - 1) / 32);
    for (let w = firstWord; w <= lastWord; w++) {
      let word = dirty ? words[w]! : ~words[w]! >>> 0;
      if (w === firstWord) word &= 0xffffffff << (a - firstWord * 32);
      word >>>= 0;
      if (word === 0) continue;
      const granule = w * 32 + countTrailingZeros(word);
      return granule < b ? granule : -1;
    }
    return -1;
  }

  private nextWithValue(offset: number, end: number, dirty: boolean): number {
    this.checkOffset(offset);
    const limit = Math.min(end, this.sizeBytes);
    if (offset >= limit) return -1;
    const first = Math.floor(offset / this.granularity);
    const last = Math.ceil(limit / this.granularity);
    const granule = this.findBit(first, last, dirty);
    if (granule < 0) return -1;
    return Math.max(offset, granule * this.granularity);
  }

  private granuleRange(offset: number, length: number): [number, number] {
    this.checkOffset(offset);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new ImageError('invalid-argument', `Invalid bitmap range length ${length}`);
    }
    const end = Math.min(this.sizeBytes, offset + length);
    if (offset >= end) return [0, 0];
    return [Math.floor(offset / this.granularity), Math.ceil(end / this.granularity)];
  }

  private checkOffset(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new ImageError('invalid-argument', `Invalid bitmap offset ${offset}`);
    }
  }

  private checkGranuleRange(first: number, count: number): [number, number] {
    if (
      !Number.isSafeInteger(first) ||
      !Number.isSafeInteger(count) ||
      first < 0 ||
      count < 0 ||
      first + count > this.granules
    ) {
      throw new ImageError(
        'out-of-range',
        `Granules ${first}..${first + count} are outside a bitmap of ${this.granules} granules`,
      );
    }
    return [first, first + count];
  }
}

function checkGranularity(granularity: number): void {
  if (
    !Number.isSafeInteger(granularity) ||
    granularity < MIN_BITMAP_GRANULARITY ||
    granularity > MAX_BITMAP_GRANULARITY ||
    (granularity & (granularity - 1)) !== 0
  ) {
    throw new ImageError('invalid-argument', 'Granularity must be power of 2 between 512 and 2147483648');
  }
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new ImageError('invalid-argument', `Invalid bitmap size ${size}`);
  }
}

function allocateWords(granules: number): Uint32Array {
  const words = Math.ceil(granules / 32);
  if (words > MAX_WORDS) {
    throw new ImageError('too-large', `A bitmap of ${granules} granules is too large`);
  }
  try {
    return new Uint32Array(words);
  } catch (cause) {
    throw new ImageError('too-large', `Cannot allocate a bitmap of ${granules} granules`, { cause });
  }
}

function lowMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : ((1 << bits) - 1) >>> 0;
}

/** Set bits in a 32-bit word (the classic SWAR reduction). */
export function popcount32(word: number): number {
  let v = word >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

function countTrailingZeros(word: number): number {
  return 31 - Math.clz32(word & -word);
}
