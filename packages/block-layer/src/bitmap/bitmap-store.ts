/**
 * The bit storage under a dirty bitmap: one bit per granule of a byte range. The block
 * layer codes against this interface so the storage can be swapped (for example for the
 * qcow2-serialisable bitmap of @strata/image-format) without touching the tracking logic.
 */
export interface DirtyBitmapStore {
  /** Bytes per bit; a power of two, at least 512. */
  readonly granularity: number;
  /** Bytes covered (the node's length when the bitmap was made or last resized). */
  readonly size: number;
  /** Marks every granule touching [offset, offset+length) dirty. */
  set(offset: number, length: number): void;
  /** Marks every granule touching [offset, offset+length) clean. */
  reset(offset: number, length: number): void;
  isDirty(offset: number): boolean;
  /** Dirty bytes, counted in whole granules (as QEMU reports `count`). */
  count(): number;
  /** The first dirty run at or after `offset`, clipped to `size`, or null. */
  nextDirty(offset: number): { offset: number; length: number } | null;
  clear(): void;
  /** Sets every bit dirty in `other` (granularities may differ; sizes must match). */
  mergeFrom(other: DirtyBitmapStore): void;
  /** An independent copy. */
  clone(): DirtyBitmapStore;
  /** Grows or shrinks the covered range; new granules are clean. */
  resize(size: number): void;
}

/** A {@link DirtyBitmapStore} over a flat bit array: simple, and fast enough for job use. */
export class ArrayBitmapStore implements DirtyBitmapStore {
  private bits: Uint8Array;
  private granules: number;
  private dirtyGranules = 0;

  constructor(
    readonly granularity: number,
    private bytes: number,
  ) {
    this.granules = Math.ceil(bytes / granularity);
    this.bits = new Uint8Array(Math.ceil(this.granules / 8));
  }

  get size(): number {
    return this.bytes;
  }

  set(offset: number, length: number): void {
    this.forRange(offset, length, (g) => this.setBit(g, true));
  }

  reset(offset: number, length: number): void {
    this.forRange(offset, length, (g) => this.setBit(g, false));
  }

  isDirty(offset: number): boolean {
    const g = Math.floor(offset / this.granularity);
    return g < this.granules && this.getBit(g);
  }

  count(): number {
    return this.dirtyGranules * this.granularity;
  }

  nextDirty(offset: number): { offset: number; length: number } | null {
    if (this.dirtyGranules === 0) return null;
    let g = Math.floor(Math.max(0, offset) / this.granularity);
    while (g < this.granules && !this.getBit(g)) {
      // Skip whole clean bytes quickly.
      if (g % 8 === 0 && this.bits[g >> 3] === 0) g += 8;
      else g++;
    }
    if (g >= this.granules) return null;
    let end = g;
    while (end < this.granules && this.getBit(end)) end++;
    const start = Math.max(offset, g * this.granularity);
    const stop = Math.min(end * this.granularity, this.bytes);
    // Only an offset at or past the covered size can leave nothing of the run.
    if (stop <= start) return null;
    return { offset: start, length: stop - start };
  }

  clear(): void {
    this.bits.fill(0);
    this.dirtyGranules = 0;
  }

  mergeFrom(other: DirtyBitmapStore): void {
    let at = 0;
    for (;;) {
      const run = other.nextDirty(at);
      if (!run) return;
      this.set(run.offset, run.length);
      at = run.offset + run.length;
    }
  }

  clone(): ArrayBitmapStore {
    const copy = new ArrayBitmapStore(this.granularity, this.bytes);
    copy.bits.set(this.bits);
    copy.dirtyGranules = this.dirtyGranules;
    return copy;
  }

  resize(size: number): void {
    const granules = Math.ceil(size / this.granularity);
    const bits = new Uint8Array(Math.ceil(granules / 8));
    let dirty = 0;
    for (let g = 0; g < Math.min(granules, this.granules); g++) {
      if (this.getBit(g)) {
        bits[g >> 3] = (bits[g >> 3] ?? 0) | (1 << (g & 7));
        dirty++;
      }
    }
    this.bits = bits;
    this.granules = granules;
    this.bytes = size;
    this.dirtyGranules = dirty;
  }

  private forRange(offset: number, length: number, apply: (granule: number) => void): void {
    // Bytes past the covered size do not exist: nothing to mark for them.
    const end = Math.min(offset + length, this.bytes);
    const start = Math.max(0, offset);
    if (end <= start) return;
    const first = Math.floor(start / this.granularity);
    const last = Math.floor((end - 1) / this.granularity);
    for (let g = first; g <= last; g++) apply(g);
  }

  private getBit(g: number): boolean {
    return ((this.bits[g >> 3] ?? 0) & (1 << (g & 7))) !== 0;
  }

  private setBit(g: number, dirty: boolean): void {
    const was = this.getBit(g);
    if (was === dirty) return;
    const byte = this.bits[g >> 3] ?? 0;
    this.bits[g >> 3] = dirty ? byte | (1 << (g & 7)) : byte & ~(1 << (g & 7));
    this.dirtyGranules += dirty ? 1 : -1;
  }
}
