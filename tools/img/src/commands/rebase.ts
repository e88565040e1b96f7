import type { ImageDriver, ImageFormatName } from '@strata/image-format';
import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { loadEngine } from '../engine/index.js';
import type { Engine, EngineImage } from '../engine/types.js';
import { Progress } from '../format/progress.js';
import { closeAll, formatName, oneFilename, openWritable, withOpenContext } from './common.js';
import { resolveBackingPath } from './image-info.js';

const CHUNK = 2 * 1024 * 1024;
/** Differences are found and written per 512-byte sector, like qemu-img rebase. */
const SECTOR = 512;

/** `rebase [-q] [-f fmt] [-p] [-u] -b backing_file [-F backing_fmt] filename` */
export async function rebase(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', value: true, key: 'format' },
    { short: 'F', value: true, key: 'backing-format' },
    { short: 'b', value: true, key: 'backing' },
    { short: 'u', value: false, key: 'unsafe' },
    { short: 'p', value: false, key: 'progress' },
    { short: 'q', value: false, key: 'quiet' },
    { short: 't', value: true, key: 'cache' },
    { short: 'T', value: true, key: 'src-cache' },
    { short: 'U', long: 'force-share', value: false },
  ]);
  const opts = new OptionBag(options);
  const filename = oneFilename(positionals);
  const unsafe = opts.has('unsafe');
  const newBacking = opts.last('backing');
  if (newBacking === undefined && !unsafe)
    throw new UsageError('Must specify backing file (-b) or use unsafe mode (-u)');
  const target = newBacking ?? '';
  const newFormatText = opts.last('backing-format');
  if (target !== '' && newFormatText === undefined) {
    throw new CliError(`Could not change the backing file to '${target}': backing format must be specified`);
  }
  const newFormat = target === '' ? null : (formatName(newFormatText) as ImageFormatName);
  const quiet = opts.has('quiet');
  const progress = new Progress(opts.has('progress') && !quiet ? ctx.out : null);
  const engine = await loadEngine();
  const format = formatName(opts.last('format'), filename);
  // Unsafe mode only rewrites the header, so the old chain need not even exist.
  const image = await openWritable(engine, filename, format, { noBacking: unsafe });
  let newChain: EngineImage | undefined;
  try {
    if (!image.setBacking)
      throw new CliError(`Could not change the backing file to '${target}': Operation not supported`);
    if (!unsafe) {
      if (newFormat !== null)
        newChain = await openNewBacking(engine, resolveBackingPath(filename, target), newFormat);
      progress.start();
      await copyDifferences(image, newChain ?? null, (done, total) => progress.update(done, total));
    }
    await image.setBacking(target === '' ? null : target, newFormat);
    await image.flush();
    progress.end();
  } finally {
    await closeAll(newChain, image);
  }
  return 0;
}

async function openNewBacking(engine: Engine, path: string, format: ImageFormatName): Promise<EngineImage> {
  return withOpenContext(path, () => engine.open(path, { format, readOnly: true }));
}

/**
 * Makes `image` keep reading what it reads now once its backing becomes `newBacking` (null: no
 * backing, i.e. zeroes): wherever the image itself holds nothing, sectors where the old and new
 * backing chains differ are copied from the old chain into the image.
 */
export async function copyDifferences(
  image: ImageDriver,
  newBacking: ImageDriver | null,
  onProgress: (done: number, total: number) => void,
): Promise<void> {
  const size = image.virtualSize;
  const oldBuf = new Uint8Array(CHUNK);
  const newBuf = new Uint8Array(CHUNK);
  let offset = 0;
  while (offset < size) {
    const [extent] = await image.blockStatus(offset, Math.min(CHUNK, size - offset));
    if (!extent) throw new Error(`no block status at ${offset}`);
    const length = extent.length;
    if (extent.status === 'unallocated') {
      const oldView = oldBuf.subarray(0, length);
      const newView = newBuf.subarray(0, length);
      await readBacking(image.backing, oldView, offset);
      await readBacking(newBacking, newView, offset);
      await writeDifferingSectors(image, oldView, newView, offset);
    }
    offset += length;
    onProgress(offset, size);
  }
}

/** Reads what a backing chain provides (zeroes past its end or without one). */
async function readBacking(chain: ImageDriver | null, view: Uint8Array, offset: number): Promise<void> {
  view.fill(0);
  if (!chain || offset >= chain.virtualSize) return;
  const inside = Math.min(view.length, chain.virtualSize - offset);
  await chain.read(view.subarray(0, inside), offset);
}

async function writeDifferingSectors(
  image: ImageDriver,
  oldView: Uint8Array,
  newView: Uint8Array,
  offset: number,
): Promise<void> {
  if (Buffer.compare(oldView, newView) === 0) return;
  let runStart = -1;
  for (let pos = 0; pos <= oldView.length; pos += SECTOR) {
    const end = Math.min(oldView.length, pos + SECTOR);
    const differs =
      pos < oldView.length && Buffer.compare(oldView.subarray(pos, end), newView.subarray(pos, end)) !== 0;
    if (differs && runStart < 0) runStart = pos;
    if (!differs && runStart >= 0) {
      await image.write(oldView.subarray(runStart, pos), offset + runStart);
      runStart = -1;
    }
  }
}
