/**
 * The shape every image format implements (qcow2, raw), so the block layer and the tools
 * drive them alike. Offsets and lengths are bytes of the guest-visible (virtual) disk.
 */
export interface ImageDriver {
  readonly format: ImageFormatName;
  /** The guest-visible size in bytes. */
  readonly virtualSize: number;
  readonly readOnly: boolean;
  /** The opened backing image, or null when there is none (or it was not followed). */
  readonly backing: ImageDriver | null;
  /** The backing file name as recorded in the image, even when it was not opened. */
  readonly backingFileName: string | null;
  readonly backingFormat: ImageFormatName | null;
  /** The host file's name. */
  readonly filename: string;

  /** Fills `buf` with the guest data at `offset` (through the backing chain). */
  read(buf: Uint8Array, offset: number): Promise<void>;
  write(buf: Uint8Array, offset: number): Promise<void>;
  /**
   * Makes a range read as zeroes. `mayUnmap` lets the driver deallocate (QEMU's
   * BDRV_REQ_MAY_UNMAP); without it, allocation is kept.
   */
  writeZeroes(offset: number, length: number, options?: { mayUnmap?: boolean }): Promise<void>;
  /** Drops data the guest no longer needs; what the range reads afterwards is format-defined. */
  discard(offset: number, length: number): Promise<void>;
  flush(): Promise<void>;
  /**
   * Allocation status of this layer alone, from metadata (never by reading data). The
   * extents cover [offset, offset+length) without gaps, merged where equal.
   */
  blockStatus(offset: number, length: number): Promise<BlockStatusExtent[]>;
  resize(newSize: number, options?: { shrink?: boolean }): Promise<void>;
  /** Flushes, writes back what must be written on a clean close, and closes the chain. */
  close(): Promise<void>;
}

/** Image formats Strata reads and writes. */
export type ImageFormatName = 'qcow2' | 'raw';

/** One run of equal allocation status in a single layer. */
export interface BlockStatusExtent {
  offset: number;
  length: number;
  /**
   * `data`: this layer holds the data; `zero`: this layer says the range reads as zeroes;
   * `unallocated`: this layer defers to its backing (or reads zeroes without one).
   */
  status: 'data' | 'zero' | 'unallocated';
  /** Host file offset of the data (for `data`, and `zero` preallocated), when it has one. */
  hostOffset?: number;
  /** The range is stored compressed (qcow2); no host offset is reported then. */
  compressed?: boolean;
}
