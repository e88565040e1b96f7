import type { ImageDriver } from '@strata/image-format';
import { resolveBackingPath } from './image-info.js';

/** Allocation of one range through a backing chain, in the terms `qemu-img map` reports. */
export interface ChainExtent {
  start: number;
  length: number;
  /** How many backing links were followed to find the layer that decides the range. */
  depth: number;
  /** Some layer holds data or a zero marker for the range (qemu's BDRV_BLOCK_ALLOCATED). */
  present: boolean;
  zero: boolean;
  data: boolean;
  /** Host offset in `file` when the data has one. */
  offset?: number;
  /** The file holding the data (for human output). */
  file?: string;
}

/**
 * Status of the range starting at `offset` (at most `length` bytes): the first layer of the chain
 * that has data or zeroes there decides; below the last layer, or beyond a shorter backing
 * image, the range reads as zeroes.
 */
export async function chainBlockStatus(
  top: ImageDriver,
  offset: number,
  length: number,
  topName: string = top.filename,
): Promise<ChainExtent> {
  let layer: ImageDriver = top;
  let name = topName;
  let depth = 0;
  let bytes = length;
  for (;;) {
    const [extent] = await layer.blockStatus(offset, bytes);
    if (!extent) throw new Error(`no block status at ${offset}`);
    bytes = Math.min(bytes, extent.length);
    if (extent.status !== 'unallocated') {
      const result: ChainExtent = {
        start: offset,
        length: bytes,
        depth,
        present: true,
        zero: extent.status === 'zero',
        data: extent.status === 'data',
      };
      if (extent.hostOffset !== undefined && !extent.compressed) {
        result.offset = extent.hostOffset;
        result.file = name;
      }
      return result;
    }
    const backing = layer.backing;
    if (!backing) return { start: offset, length: bytes, depth, present: false, zero: true, data: false };
    if (offset >= backing.virtualSize) {
      return { start: offset, length: bytes, depth, present: false, zero: true, data: false };
    }
    bytes = Math.min(bytes, backing.virtualSize - offset);
    // Named as qemu-img names it: the backing name resolved against the overlay's name.
    name =
      layer.backingFileName === null ? backing.filename : resolveBackingPath(name, layer.backingFileName);
    layer = backing;
    depth++;
  }
}

/** Whether two consecutive extents print as one (qemu-img map merges them so). */
export function canMerge(a: ChainExtent, b: ChainExtent): boolean {
  if (a.start + a.length !== b.start) return false;
  if (a.depth !== b.depth || a.present !== b.present || a.zero !== b.zero || a.data !== b.data) return false;
  if ((a.offset === undefined) !== (b.offset === undefined)) return false;
  if (a.offset !== undefined && b.offset !== undefined && a.offset + a.length !== b.offset) return false;
  return a.file === b.file;
}

/** QEMU asks for block status in pieces of at most 1 GiB; so do we, so extents split alike. */
export const STATUS_CHUNK = 1 << 30;

/** Walks [start, end) yielding merged chain extents. */
export async function* mapChain(
  top: ImageDriver,
  start: number,
  end: number,
  topName: string = top.filename,
): AsyncGenerator<ChainExtent> {
  let pending: ChainExtent | null = null;
  let offset = start;
  while (offset < end) {
    const next = await chainBlockStatus(top, offset, Math.min(STATUS_CHUNK, end - offset), topName);
    offset += next.length;
    if (pending && canMerge(pending, next)) {
      pending.length += next.length;
      continue;
    }
    if (pending) yield pending;
    pending = next;
  }
  if (pending) yield pending;
}
