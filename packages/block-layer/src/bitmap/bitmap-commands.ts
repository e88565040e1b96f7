import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import {
  BdrvDirtyBitmap,
  CHECK_ALLOW_READ_ONLY,
  CHECK_DEFAULT,
  MAX_BITMAP_NAME_LENGTH,
} from './dirty-bitmap.js';

/**
 * The `block-dirty-bitmap-*` operations with QEMU's checks and messages. Each returns
 * an undo function so a transaction can take the operation back.
 */

/** Arguments of `block-dirty-bitmap-add`. */
export interface BitmapAddOptions {
  node: string;
  name: string;
  granularity?: number;
  persistent?: boolean;
  disabled?: boolean;
}

/** A bitmap source of `block-dirty-bitmap-merge`: a name on the same node, or node + name. */
export type BitmapSource = string | { node: string; name: string };

/** QEMU's default bitmap granularity: the cluster size clamped to [4 KiB, 64 KiB]. */
export function defaultGranularity(node: BlockNode): number {
  const cluster = (node as { clusterSize?: unknown }).clusterSize;
  if (typeof cluster === 'number' && cluster > 0) return Math.min(65536, Math.max(4096, cluster));
  return 65536;
}

/** Finds a bitmap with QEMU's lookup errors (`Node 'x' not found`, `Dirty bitmap 'y' not found`). */
export function lookupBitmap(
  graph: BlockGraph,
  node: string,
  name: string,
): { node: BlockNode; bitmap: BdrvDirtyBitmap } {
  const found = graph.find(node);
  if (!found) throw new BlockError('not-found', `Node '${node}' not found`);
  const bitmap = found.bitmaps.find((b) => b.name === name);
  if (!bitmap) throw new BlockError('not-found', `Dirty bitmap '${name}' not found`);
  return { node: found, bitmap };
}

/** `block-dirty-bitmap-add`. */
export function addBitmap(
  graph: BlockGraph,
  options: BitmapAddOptions,
): { bitmap: BdrvDirtyBitmap; undo: () => void } {
  if (options.name === '') throw new BlockError('invalid-argument', 'Bitmap name cannot be empty');
  const node = graph.require(options.node);
  let granularity = options.granularity;
  if (granularity !== undefined) {
    if (!Number.isSafeInteger(granularity) || granularity < 0 || granularity > 0xffffffff) {
      throw new BlockError('invalid-argument', "Parameter 'granularity' expects uint32_t");
    }
    if (granularity < 512 || (granularity & (granularity - 1)) !== 0) {
      throw new BlockError('invalid-argument', 'Granularity must be power of 2 and at least 512');
    }
  } else granularity = defaultGranularity(node);
  if (options.persistent && !node.supportsBacking) {
    throw new BlockError(
      'invalid-argument',
      `Can't store persistent bitmaps to ${node.name}: Operation not supported`,
    );
  }
  if (node.bitmaps.some((b) => b.name === options.name)) {
    throw new BlockError('exists', `Bitmap already exists: ${options.name}`);
  }
  if (options.name.length > MAX_BITMAP_NAME_LENGTH) {
    throw new BlockError('invalid-argument', `Bitmap name too long: ${options.name}`);
  }
  const bitmap = BdrvDirtyBitmap.create(options.name, granularity, node.length);
  bitmap.persistent = options.persistent ?? false;
  bitmap.enabled = !(options.disabled ?? false);
  node.bitmaps.unshift(bitmap);
  return { bitmap, undo: () => detachBitmap(node, bitmap) };
}

/** `block-dirty-bitmap-remove`: refused for busy or read-only bitmaps. */
export function removeBitmap(graph: BlockGraph, node: string, name: string): { undo: () => void } {
  const found = lookupBitmap(graph, node, name);
  found.bitmap.check({ busy: true, readOnly: true });
  const at = detachBitmap(found.node, found.bitmap);
  return { undo: () => found.node.bitmaps.splice(at, 0, found.bitmap) };
}

/** `block-dirty-bitmap-clear`. */
export function clearBitmap(graph: BlockGraph, node: string, name: string): { undo: () => void } {
  const { bitmap } = lookupBitmap(graph, node, name);
  bitmap.check(CHECK_DEFAULT);
  const backup = bitmap.store.clone();
  bitmap.store.clear();
  return {
    undo: () => {
      bitmap.store = backup;
    },
  };
}

/** `block-dirty-bitmap-enable` / `-disable`. */
export function setBitmapEnabled(
  graph: BlockGraph,
  node: string,
  name: string,
  enabled: boolean,
): { undo: () => void } {
  const { bitmap } = lookupBitmap(graph, node, name);
  bitmap.check(CHECK_ALLOW_READ_ONLY);
  const before = bitmap.enabled;
  bitmap.enabled = enabled;
  return {
    undo: () => {
      bitmap.enabled = before;
    },
  };
}

/** `block-dirty-bitmap-merge`: sets in `target` every bit set in any source. */
export function mergeBitmaps(
  graph: BlockGraph,
  node: string,
  target: string,
  sources: readonly BitmapSource[],
): { undo: () => void } {
  const dest = lookupBitmap(graph, node, target);
  dest.bitmap.check(CHECK_DEFAULT);
  // QEMU resolves and checks the sources one after the other, failing at the first bad one.
  const resolved: BdrvDirtyBitmap[] = [];
  for (const source of sources) {
    const bitmap =
      typeof source === 'string'
        ? lookupBitmap(graph, node, source).bitmap
        : lookupBitmap(graph, source.node, source.name).bitmap;
    bitmap.check(CHECK_ALLOW_READ_ONLY);
    if (bitmap.store.size !== dest.bitmap.store.size) {
      throw new BlockError(
        'invalid-argument',
        `Bitmaps are of different sizes (destination size is ${dest.bitmap.store.size}, ` +
          `source size is ${bitmap.store.size}) and can't be merged`,
      );
    }
    resolved.push(bitmap);
  }
  const backup = dest.bitmap.store.clone();
  for (const source of resolved) dest.bitmap.store.mergeFrom(source.store);
  return {
    undo: () => {
      dest.bitmap.store = backup;
    },
  };
}

function detachBitmap(node: BlockNode, bitmap: BdrvDirtyBitmap): number {
  const at = node.bitmaps.indexOf(bitmap);
  if (at >= 0) node.bitmaps.splice(at, 1);
  return at;
}
