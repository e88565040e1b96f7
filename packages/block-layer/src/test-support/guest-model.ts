import type { BlockBackend } from '../backend/block-backend.js';

/**
 * A guest writing through a backend and a flat model of what it should read: every
 * acknowledged write is applied to the model, so after any job the disk must equal it.
 */
export class GuestModel {
  readonly model: Uint8Array;
  private seed: number;

  constructor(
    readonly backend: BlockBackend,
    initial: Uint8Array,
    seed = 1,
  ) {
    this.model = initial.slice();
    this.seed = seed;
  }

  /** A deterministic pseudo-random number in [0, n). */
  random(n: number): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff;
    return this.seed % n;
  }

  /** Writes `length` bytes of `value` at `offset` and records it once acknowledged. */
  async write(offset: number, length: number, value: number): Promise<void> {
    const data = new Uint8Array(length).fill(value);
    await this.backend.write(data, offset);
    this.model.set(data, offset);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.backend.writeZeroes(offset, length);
    this.model.fill(0, offset, offset + length);
  }

  /** `count` sequential random writes (sizes up to `maxLength`, any alignment). */
  async randomWrites(count: number, maxLength = 20000): Promise<void> {
    const size = this.model.length;
    for (let i = 0; i < count; i++) {
      const length = 1 + this.random(maxLength);
      const offset = this.random(size - length);
      if (this.random(8) === 0) await this.writeZeroes(offset, length);
      else await this.write(offset, length, 1 + this.random(250));
    }
  }
}

/** Whether two byte arrays are equal (with the first differing offset for messages). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
