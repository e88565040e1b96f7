import { stat } from 'node:fs/promises';
import type { ImageFormatName } from '@strata/image-format';
import { CliError, UsageError } from '../cli/errors.js';
import type { Engine, EngineImage } from '../engine/types.js';

/** Formats strata-img reads and writes. */
export const FORMATS: readonly ImageFormatName[] = ['qcow2', 'raw'];

/** Validates a `-f`/`-F`/`-O` value, naming it the way qemu-img does for an unknown driver. */
export function formatName(text: string | undefined, path?: string): ImageFormatName | undefined {
  if (text === undefined) return undefined;
  if ((FORMATS as readonly string[]).includes(text)) return text as ImageFormatName;
  if (path !== undefined) throw new CliError(`Could not open '${path}': Unknown driver '${text}'`);
  throw new CliError(`Unknown file format '${text}'`);
}

/** `--output=human|json`, with qemu-img's message for anything else. */
export function outputFormat(text: string | undefined): 'human' | 'json' {
  if (text === undefined || text === 'human') return 'human';
  if (text === 'json') return 'json';
  throw new CliError('--output must be used with human or json as argument.');
}

/** Exactly one positional file name, or qemu-img's usage error. */
export function oneFilename(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError('Expecting one image file name');
  return positionals[0] as string;
}

/**
 * Opens an image read-only. Guessing the format is acceptable here because nothing is
 * written; a guessed raw image cannot make us write through a qcow2 header.
 */
export async function openReadOnly(
  engine: Engine,
  path: string,
  format: ImageFormatName | undefined,
  options: { noBacking?: boolean } = {},
): Promise<EngineImage> {
  return withOpenContext(path, async () => {
    const fmt = format ?? (await engine.probeFormat(path));
    return engine.open(path, { format: fmt, readOnly: true, noBacking: options.noBacking ?? false });
  });
}

/**
 * Opens an image for writing. The format must be given: a format guessed from the contents
 * of a writable image lets whoever wrote those contents choose how we interpret the file.
 */
export async function openWritable(
  engine: Engine,
  path: string,
  format: ImageFormatName | undefined,
  options: { noBacking?: boolean } = {},
): Promise<EngineImage> {
  if (format === undefined) {
    throw new CliError(
      `Could not open '${path}': the image format must be given with -f when the image is opened for writing (the format of a writable image is never guessed)`,
    );
  }
  return withOpenContext(path, () =>
    engine.open(path, { format, readOnly: false, noBacking: options.noBacking ?? false }),
  );
}

/** Prefixes failures while opening with "Could not open '<path>': " as qemu-img does. */
export async function withOpenContext<T>(path: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof CliError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    // Always prefixed, even when the library's message names the file too: qemu-img does the same.
    throw new CliError(`Could not open '${path}': ${message}`);
  }
}

/** Bytes a file occupies on the host (what `du` counts), or -1 when unknown. */
export async function allocatedFileSize(path: string): Promise<number> {
  try {
    const st = await stat(path);
    return st.blocks * 512;
  } catch {
    return -1;
  }
}

/** Closes images, ignoring failures of later closes once one failed (the first error wins). */
export async function closeAll(...images: Array<EngineImage | null | undefined>): Promise<void> {
  let first: unknown;
  for (const image of images) {
    if (!image) continue;
    try {
      await image.close();
    } catch (error) {
      first ??= error;
    }
  }
  if (first !== undefined) throw first;
}
