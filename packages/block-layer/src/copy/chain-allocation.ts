import type { BlockNode } from '../graph/node.js';

/** How a range of a node reads, looking down its whole backing chain. */
export interface ChainAllocation {
  /** `data`: some layer holds data; `zero`: it reads as zeroes without any data. */
  status: 'data' | 'zero';
  /** Bytes from the asked offset that share this answer. */
  length: number;
}

/** The node a layer defers to: a filter's child, or a format node's backing. */
function below(node: BlockNode): BlockNode | null {
  if (node.isFilter) return node.backing ?? node.file;
  return node.backing;
}

/**
 * Whether [offset, offset+length) of `top` reads from data or reads as zeroes, answered
 * from allocation metadata only (never by reading data). Walks the backing chain (through
 * filters) until a layer answers; a range no layer allocates reads as zeroes.
 */
export async function chainAllocation(
  top: BlockNode,
  offset: number,
  length: number,
): Promise<ChainAllocation> {
  let bytes = length;
  for (let node: BlockNode | null = top; node; node = below(node)) {
    if (node.isFilter) continue;
    if (offset >= node.length) return { status: 'zero', length: bytes };
    const first = (await node.blockStatus(offset, Math.min(bytes, node.length - offset)))[0];
    if (!first) break;
    if (first.status === 'data') return { status: 'data', length: Math.min(bytes, first.length) };
    if (first.status === 'zero') return { status: 'zero', length: Math.min(bytes, first.length) };
    bytes = Math.min(bytes, first.length);
  }
  return { status: 'zero', length: bytes };
}

/**
 * Calls `mark` for every run of `top` allocated in a layer from `top` down to (not
 * including) `base`; filters are looked through. With `base` null the whole chain counts.
 */
export async function forEachAllocatedAbove(
  top: BlockNode,
  base: BlockNode | null,
  mark: (offset: number, length: number) => void,
): Promise<void> {
  const size = top.length;
  const layers: BlockNode[] = [];
  for (let node: BlockNode | null = top; node && node !== base; node = below(node)) {
    if (!node.isFilter) layers.push(node);
  }
  for (let offset = 0; offset < size; ) {
    let bytes = size - offset;
    let allocated = false;
    for (const node of layers) {
      if (offset >= node.length) continue;
      const first = (await node.blockStatus(offset, Math.min(bytes, node.length - offset)))[0];
      if (!first) continue;
      if (first.status !== 'unallocated') {
        allocated = true;
        bytes = Math.min(bytes, first.length);
        break;
      }
      bytes = Math.min(bytes, first.length);
    }
    if (allocated) mark(offset, bytes);
    offset += bytes;
  }
}
