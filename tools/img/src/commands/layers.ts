import { resolve } from 'node:path';
import type { ImageFormatName } from '@strata/image-format';
import { CliError } from '../cli/errors.js';
import type { Engine, EngineImage } from '../engine/types.js';
import { closeAll, openReadOnly, withOpenContext } from './common.js';
import { resolveBackingPath } from './image-info.js';

/** Longest backing chain followed. */
export const MAX_CHAIN_DEPTH = 64;

/** One image of a chain, opened alone (without its backing). */
export interface Layer {
  path: string;
  image: EngineImage;
}

/**
 * Opens the images below `top` one by one, each alone and read-only, down to (not including)
 * the image at `stopAt` when given, else to the bottom. Backing formats must be recorded:
 * the chain of an image we are about to write through is never guessed.
 */
export async function openLowerLayers(
  engine: Engine,
  top: Layer,
  stopAt?: string,
): Promise<{ layers: Layer[]; bottomPath: string | null; bottomFormat: ImageFormatName | null }> {
  const layers: Layer[] = [];
  const seen = new Set([top.path]);
  let current = top.image;
  let currentPath = top.path;
  try {
    for (;;) {
      const name = current.backingFileName;
      if (name === null) return { layers, bottomPath: null, bottomFormat: null };
      const path = resolveBackingPath(currentPath, name);
      const format = current.backingFormat;
      if (stopAt !== undefined && samePath(path, stopAt))
        return { layers, bottomPath: path, bottomFormat: format };
      if (seen.has(path)) throw new CliError(`Backing file '${path}' creates an infinite loop.`);
      if (layers.length >= MAX_CHAIN_DEPTH) throw new CliError(`Backing chain of '${top.path}' is too deep`);
      if (format === null) {
        throw new CliError(
          `Could not open '${path}': the backing file format is not recorded in '${currentPath}' and is never guessed for a chain being written`,
        );
      }
      seen.add(path);
      const image = await openReadOnly(engine, path, format, { noBacking: true });
      layers.push({ path, image });
      current = image;
      currentPath = path;
    }
  } catch (error) {
    await closeAll(...layers.map((l) => l.image));
    throw error;
  }
}

/** Compares two paths naming the same file as QEMU does for `-b` (after resolving relative names). */
export function samePath(a: string, b: string): boolean {
  return resolve(a) === resolve(b);
}

/** Opens an image for writing with a known format, as the commit base. */
export async function openBaseWritable(
  engine: Engine,
  path: string,
  format: ImageFormatName,
): Promise<EngineImage> {
  return withOpenContext(path, () => engine.open(path, { format, readOnly: false, noBacking: true }));
}
