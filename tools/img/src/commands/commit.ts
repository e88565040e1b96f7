import type { CommandContext } from '../cli/context.js';
import { CliError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { loadEngine } from '../engine/index.js';
import type { CreateSpec, EngineImage } from '../engine/types.js';
import { Progress } from '../format/progress.js';
import { closeAll, formatName, oneFilename, openWritable, withOpenContext } from './common.js';
import { resolveBackingPath } from './image-info.js';
import { type Layer, openBaseWritable, openLowerLayers } from './layers.js';
import { ReadAhead } from './read-ahead.js';

const CHUNK = 2 * 1024 * 1024;

/** `commit [-q] [-f fmt] [-b base] [-d] [-p] filename` */
export async function commit(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', value: true, key: 'format' },
    { short: 'b', value: true, key: 'base' },
    { short: 'd', value: false, key: 'drop' },
    { short: 'p', value: false, key: 'progress' },
    { short: 'q', value: false, key: 'quiet' },
    { short: 't', value: true, key: 'cache' },
    { short: 'r', value: true, key: 'rate' },
  ]);
  const opts = new OptionBag(options);
  const filename = oneFilename(positionals);
  const quiet = opts.has('quiet');
  const baseOption = opts.last('base');
  // Emptying the top only makes sense when the base is its direct backing; -b implies -d as in qemu-img.
  const keepTop = opts.has('drop') || baseOption !== undefined;
  const progress = new Progress(opts.has('progress') && !quiet ? ctx.out : null);
  const engine = await loadEngine();
  const topImage = await openWritable(engine, filename, formatName(opts.last('format'), filename), {
    noBacking: true,
  });
  const top: Layer = { path: filename, image: topImage };
  try {
    // The whole chain must open (no loop, no missing or unnamed-format file) before anything
    // is written, as qemu-img opens it whole too.
    await closeAll(
      await withOpenContext(filename, () =>
        engine.open(filename, { format: topImage.format, readOnly: true }),
      ),
    );
  } catch (error) {
    await closeAll(topImage);
    throw error;
  }
  let chain: Awaited<ReturnType<typeof openLowerLayers>> | undefined;
  let base: EngineImage | undefined;
  try {
    if (topImage.backingFileName === null)
      throw new CliError(`Image '${filename}' does not have a backing file`);
    const basePath = baseOption ?? resolveBackingPath(filename, topImage.backingFileName);
    chain = await openLowerLayers(engine, top, basePath);
    if (chain.bottomPath === null) {
      throw new CliError(`'${baseOption}' is not in the backing chain of '${filename}'`);
    }
    if (chain.bottomFormat === null) {
      throw new CliError(`Could not open '${chain.bottomPath}': the backing file format is not recorded`);
    }
    const recreate = keepTop ? null : emptyingPlan(topImage);
    base = await openBaseWritable(engine, chain.bottomPath, chain.bottomFormat);
    progress.start();
    await commitLayers([top, ...chain.layers], base, (done, total) => progress.update(done, total));
    await base.flush();
    if (recreate === 'in-place') {
      await (topImage.makeEmpty as () => Promise<void>)();
      await topImage.flush();
    }
    progress.complete();
    progress.end();
    await closeAll(base, ...(chain?.layers.map((l) => l.image) ?? []), topImage);
    if (recreate && recreate !== 'in-place') await engine.create(filename, recreate);
  } catch (error) {
    await closeAll(base, ...(chain?.layers.map((l) => l.image) ?? []), topImage).catch(() => {});
    throw error;
  }
  if (!quiet) ctx.out('Image committed.\n');
  return 0;
}

/**
 * How the top is emptied after a commit: in place when the library can, else (like QEMU's fast
 * path for images without snapshots or bitmaps) by writing a fresh empty image with the same
 * parameters and backing over it. Decided before anything is written, so a top that cannot be
 * emptied fails the command with nothing changed.
 */
function emptyingPlan(top: EngineImage): CreateSpec | 'in-place' {
  if (top.makeEmpty) return 'in-place';
  const specific = top.formatSpecific();
  const hasSnapshots = (top.snapshots?.list().length ?? 0) > 0;
  const hasBitmaps = (top.bitmaps?.list().length ?? 0) > 0;
  if (!specific || hasSnapshots || hasBitmaps || top.backingFileName === null || top.backingFormat === null) {
    throw new CliError(
      `Cannot empty '${top.filename}' after the commit (it has internal snapshots or bitmaps); use -d to keep its contents`,
    );
  }
  return {
    format: 'qcow2',
    size: top.virtualSize,
    clusterSize: top.clusterSize ?? 65536,
    compat: specific.compat,
    refcountBits: specific.refcountBits,
    lazyRefcounts: specific.lazyRefcounts ?? false,
    backingFile: top.backingFileName,
    backingFormat: top.backingFormat,
  };
}

/**
 * Writes into `base` everything the layers above it decide (data and zeroes), the uppermost
 * layer winning, growing the base first when the top is larger.
 */
export async function commitLayers(
  layers: Layer[],
  base: EngineImage,
  onProgress: (done: number, total: number) => void,
): Promise<void> {
  const top = (layers[0] as Layer).image;
  const size = top.virtualSize;
  if (base.virtualSize < size) await base.resize(size);
  const copier = new ReadAhead(4, CHUNK);
  let offset = 0;
  try {
    while (offset < size) {
      let length = Math.min(CHUNK, size - offset);
      let decided: { layer: EngineImage; status: 'data' | 'zero' } | null = null;
      for (const { image } of layers) {
        if (offset >= image.virtualSize) {
          // A shorter intermediate reads zeroes past its end, hiding what is below.
          decided = { layer: image, status: 'zero' };
          break;
        }
        length = Math.min(length, image.virtualSize - offset);
        const [extent] = await image.blockStatus(offset, length);
        if (!extent) throw new Error(`no block status at ${offset}`);
        length = Math.min(length, extent.length);
        if (extent.status !== 'unallocated') {
          decided = { layer: image, status: extent.status };
          break;
        }
      }
      const at = offset;
      const end = offset + length;
      if (decided?.status === 'data') {
        const layer = decided.layer;
        await copier.add(
          length,
          (view) => layer.read(view, at),
          async (view) => {
            await base.write(view, at);
            onProgress(end, size);
          },
        );
      } else {
        await copier.drain();
        // qemu-img commit drops the base's clusters under zeroes (the mirror job runs with unmap).
        if (decided?.status === 'zero') await base.writeZeroes(offset, length, { mayUnmap: true });
        onProgress(end, size);
      }
      offset = end;
    }
    await copier.drain();
  } finally {
    await copier.settle();
  }
}
