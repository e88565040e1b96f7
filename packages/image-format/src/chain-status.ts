import type { ImageDriver } from './driver.js';
import { ImageError } from './errors.js';

/** One line of `qemu-img map --output=json`: the allocation of a range through the chain. */
export interface ChainMapEntry {
  start: number;
  length: number;
  /** How many backing links down the data was found (0 = the top image). */
  depth: number;
  /** Some layer holds the range (data or an explicit zero). */
  present: boolean;
  zero: boolean;
  data: boolean;
  /** Host offset in the file of the layer at `depth`, when it has one. */
  offset?: number;
  /** The range is stored compressed (no host offset then). qemu-img 7.2 does not print it. */
  compressed?: boolean;
}

/** One line exactly as `qemu-img map --output=json` of QEMU 7.2 prints it (no `compressed`). */
export type QemuImgMapEntry = Omit<ChainMapEntry, 'compressed'>;

/**
 * The entries of {@link chainBlockStatus} in exactly the shape qemu-img 7.2's JSON map has:
 * `compressed` is dropped (7.2 does not report it) and neighbours that then look alike are
 * merged, as qemu-img merges them. The API keeps `compressed` for callers that want it.
 */
export function toQemuImgMap(entries: readonly ChainMapEntry[]): QemuImgMapEntry[] {
  const out: QemuImgMapEntry[] = [];
  for (const { compressed: _compressed, ...entry } of entries) append(out, { ...entry });
  return out;
}

/**
 * Allocation status of [offset, offset+length) through the whole backing chain, from metadata
 * only, merged like qemu-img map: a range unallocated in one layer is looked up in its
 * backing; past the end of the backing, or with no backing, it reads as zeros at that depth.
 */
export async function chainBlockStatus(
  image: ImageDriver,
  offset = 0,
  length?: number,
): Promise<ChainMapEntry[]> {
  const len = length ?? image.virtualSize - offset;
  if (offset < 0 || len < 0 || offset + len > image.virtualSize) {
    throw new ImageError('out-of-range', 'Map request past the end of the image', { path: image.filename });
  }
  const out: ChainMapEntry[] = [];
  await walk(image, offset, len, 0, out);
  return out;
}

async function walk(
  layer: ImageDriver,
  offset: number,
  length: number,
  depth: number,
  out: ChainMapEntry[],
): Promise<void> {
  if (length === 0) return;
  for (const e of await layer.blockStatus(offset, length)) {
    if (e.status !== 'unallocated') {
      const entry: ChainMapEntry = {
        start: e.offset,
        length: e.length,
        depth,
        present: true,
        zero: e.status === 'zero',
        data: e.status === 'data',
      };
      if (e.hostOffset !== undefined) entry.offset = e.hostOffset;
      if (e.compressed) entry.compressed = true;
      append(out, entry);
      continue;
    }
    const backing = layer.backing;
    const inBacking = backing
      ? Math.max(0, Math.min(e.offset + e.length, backing.virtualSize) - e.offset)
      : 0;
    if (backing && inBacking > 0) await walk(backing, e.offset, inBacking, depth + 1, out);
    if (inBacking < e.length) {
      append(out, {
        start: e.offset + inBacking,
        length: e.length - inBacking,
        depth,
        present: false,
        zero: true,
        data: false,
      });
    }
  }
}

function append<T extends ChainMapEntry>(out: T[], e: T): void {
  const last = out[out.length - 1];
  if (
    last &&
    last.start + last.length === e.start &&
    last.depth === e.depth &&
    last.present === e.present &&
    last.zero === e.zero &&
    last.data === e.data &&
    last.compressed === e.compressed &&
    (last.offset === undefined) === (e.offset === undefined) &&
    (last.offset === undefined || last.offset + last.length === e.offset)
  ) {
    last.length += e.length;
    return;
  }
  out.push(e);
}
