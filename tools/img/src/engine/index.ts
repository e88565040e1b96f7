import type { Engine } from './types.js';

/**
 * Loads the binding of the command port to @strata/image-format. Loaded lazily so that
 * `--help` and argument errors never pay for loading the image library.
 */
export async function loadEngine(): Promise<Engine> {
  const { imageFormatEngine } = await import('./image-format-engine.js');
  return imageFormatEngine;
}
