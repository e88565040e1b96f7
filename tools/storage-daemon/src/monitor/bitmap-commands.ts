import {
  addBitmap,
  type BitmapSource,
  type BlockGraph,
  clearBitmap,
  mergeBitmaps,
  removeBitmap,
  setBitmapEnabled,
} from '@strata/block-layer';
import type { Register } from './monitor.js';

/** `block-dirty-bitmap-*`: the block layer's bitmap operations, outside a transaction. */
export function registerBitmapCommands(on: Register, graph: BlockGraph): void {
  on('block-dirty-bitmap-add', (args) => {
    addBitmap(graph, {
      node: String(args['node']),
      name: String(args['name']),
      ...(args['granularity'] !== undefined ? { granularity: Number(args['granularity']) } : {}),
      ...(args['persistent'] !== undefined ? { persistent: args['persistent'] === true } : {}),
      ...(args['disabled'] !== undefined ? { disabled: args['disabled'] === true } : {}),
    });
  });
  on('block-dirty-bitmap-remove', (args) => {
    removeBitmap(graph, String(args['node']), String(args['name']));
  });
  on('block-dirty-bitmap-clear', (args) => {
    clearBitmap(graph, String(args['node']), String(args['name']));
  });
  on('block-dirty-bitmap-enable', (args) => {
    setBitmapEnabled(graph, String(args['node']), String(args['name']), true);
  });
  on('block-dirty-bitmap-disable', (args) => {
    setBitmapEnabled(graph, String(args['node']), String(args['name']), false);
  });
  on('block-dirty-bitmap-merge', (args) => {
    const sources = args['bitmaps'] as unknown as BitmapSource[];
    mergeBitmaps(graph, String(args['node']), String(args['target']), sources);
  });
}
