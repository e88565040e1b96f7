import type { BdrvDirtyBitmap } from '../bitmap/dirty-bitmap.js';
import { FilterNode } from '../drivers/filter-node.js';
import type { BlockNode } from '../graph/node.js';
import { AllocFlag, DIRTY } from './constants.js';
import type { NbdExtent } from './transmission-codec.js';

/** Allocation of a range across a whole backing chain. */
export interface ChainExtent {
  offset: number;
  length: number;
  /** Reads as zeroes (a zero cluster, unallocated with nothing beneath, or past a shorter backing). */
  zero: boolean;
  /** Some layer holds data or a zero record for it. */
  allocated: boolean;
  /** 1 = the node itself, 2 = its backing, ...; 0 = allocated nowhere. */
  depth: number;
}

/** Longest backing chain walked for status (a guard against loops in broken graphs). */
const MAX_DEPTH = 64;

/**
 * The status of `[offset, offset+length)` for the whole chain under `node`: each layer's
 * own status, falling through unallocated ranges to the backing node, skipping filters.
 */
export async function chainStatus(node: BlockNode, offset: number, length: number): Promise<ChainExtent[]> {
  const out: ChainExtent[] = [];
  await walk(node, offset, length, 1, out);
  return out;
}

async function walk(node: BlockNode, offset: number, length: number, depth: number, out: ChainExtent[]) {
  if (length === 0) return;
  if (node instanceof FilterNode) return walk(node.filtered, offset, length, depth, out);
  if (depth > MAX_DEPTH) {
    out.push({ offset, length, zero: false, allocated: true, depth });
    return;
  }
  const extents = await node.blockStatus(offset, Math.min(length, Math.max(0, node.length - offset)));
  let covered = offset;
  for (const e of extents) {
    const start = Math.max(e.offset, offset);
    const end = Math.min(e.offset + e.length, offset + length);
    if (end <= start) continue;
    if (e.status === 'unallocated') {
      const backing = node.backing;
      if (backing) {
        const inBacking = Math.max(0, Math.min(end, backing.length) - start);
        await walk(backing, start, inBacking, depth + 1, out);
        if (start + inBacking < end) {
          push(out, {
            offset: start + inBacking,
            length: end - start - inBacking,
            zero: true,
            allocated: false,
            depth: 0,
          });
        }
      } else {
        push(out, { offset: start, length: end - start, zero: true, allocated: false, depth: 0 });
      }
    } else {
      push(out, { offset: start, length: end - start, zero: e.status === 'zero', allocated: true, depth });
    }
    covered = end;
  }
  // Anything the driver did not describe (or past its end) reads as zeroes.
  if (covered < offset + length) {
    push(out, { offset: covered, length: offset + length - covered, zero: true, allocated: false, depth: 0 });
  }
}

function push(out: ChainExtent[], e: ChainExtent): void {
  const last = out[out.length - 1];
  if (
    last &&
    last.offset + last.length === e.offset &&
    last.zero === e.zero &&
    last.allocated === e.allocated &&
    last.depth === e.depth
  ) {
    last.length += e.length;
  } else {
    out.push(e);
  }
}

/** `base:allocation` flags: HOLE for anything without data (unallocated or a zero record), ZERO for reads as zero. */
export function allocationFlags(e: ChainExtent): number {
  return e.zero ? AllocFlag.HOLE | AllocFlag.ZERO : 0;
}

/** Merges adjacent extents with equal flags and caps their number. */
export function mergeExtents(extents: Iterable<NbdExtent>, maxExtents: number): NbdExtent[] {
  const out: NbdExtent[] = [];
  for (const e of extents) {
    if (e.length === 0) continue;
    const last = out[out.length - 1];
    if (last && last.flags === e.flags) {
      last.length += e.length;
    } else {
      if (out.length === maxExtents) break;
      out.push({ length: e.length, flags: e.flags });
    }
  }
  return out;
}

/** `qemu:dirty-bitmap:` extents of a bitmap over `[offset, offset+length)`. */
export function* dirtyExtents(bitmap: BdrvDirtyBitmap, offset: number, length: number): Generator<NbdExtent> {
  const end = offset + length;
  const size = bitmap.store.size;
  let pos = offset;
  while (pos < end) {
    if (pos >= size) {
      yield { length: end - pos, flags: 0 };
      return;
    }
    const next = bitmap.store.nextDirty(pos);
    if (!next || next.offset >= end) {
      yield { length: end - pos, flags: 0 };
      return;
    }
    if (next.offset > pos) {
      yield { length: next.offset - pos, flags: 0 };
      pos = next.offset;
    }
    const dirtyEnd = Math.min(end, next.offset + next.length);
    // nextDirty may start before pos when pos is inside a dirty granule.
    yield { length: dirtyEnd - pos, flags: DIRTY };
    pos = dirtyEnd;
  }
}
