import type { ImageFormatName } from '@strata/image-format';
import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { createOptionsHelp, parseImageOptions } from '../cli/image-options.js';
import { parseSize } from '../cli/size.js';
import { loadEngine } from '../engine/index.js';
import type { EngineImage } from '../engine/types.js';
import { Progress } from '../format/progress.js';
import { type ChainExtent, chainBlockStatus } from './chain-status.js';
import { closeAll, formatName, openReadOnly, openWritable, withOpenContext } from './common.js';
import { buildCreateSpec, validateCreateSpec } from './create.js';
import { ReadAhead } from './read-ahead.js';
import { isAllZero, zeroRuns } from './zero-detect.js';

/** Largest piece copied at once. */
const CHUNK = 2 * 1024 * 1024;
/** Source reads allowed to run ahead of the target writes. */
const READ_AHEAD = 4;

/** What one conversion copies and how. */
export interface ConvertPlan {
  sources: EngineImage[];
  target: EngineImage;
  /** The target reads zeroes everywhere before the copy (a new image without backing). */
  targetIsZero: boolean;
  /** Copy only what each source's top layer holds (the target has a backing file, -B). */
  topOnly: boolean;
  compress: boolean;
  /** Zero runs of at least this many bytes in data are not written (-S); 0 disables. */
  sparseSize: number;
  progress: Progress;
}

/**
 * `convert [-c] [-p] [-q] [-n] [-f fmt] [-O output_fmt] [-B backing_file [-F backing_fmt]]
 * [-o options] [-S sparse_size] [--bitmaps] filename [filename2 [...]] output_filename`
 */
export async function convert(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', value: true, key: 'format' },
    { short: 'O', value: true, key: 'output-format' },
    { short: 'B', value: true, key: 'backing' },
    { short: 'F', value: true, key: 'backing-format' },
    { short: 'o', value: true, key: 'options' },
    { short: 'c', value: false, key: 'compress' },
    { short: 'p', value: false, key: 'progress' },
    { short: 'q', value: false, key: 'quiet' },
    { short: 'n', value: false, key: 'no-create' },
    { short: 'S', value: true, key: 'sparse' },
    { short: 't', value: true, key: 'cache' },
    { short: 'T', value: true, key: 'src-cache' },
    { short: 'm', value: true, key: 'coroutines' },
    { short: 'W', value: false, key: 'out-of-order' },
    { short: 'U', long: 'force-share', value: false },
    { short: 'C', value: false, key: 'copy-range' },
    { short: 'r', value: true, key: 'rate' },
    { short: 'l', value: true, key: 'snapshot' },
    { long: 'bitmaps', value: false },
    { long: 'target-is-zero', value: false },
  ]);
  const opts = new OptionBag(options);
  const outFormat = formatName(opts.last('output-format') ?? 'raw') as ImageFormatName;
  const parsed = parseImageOptions(opts.all('options'));
  if (parsed.help) {
    ctx.out(createOptionsHelp(outFormat));
    return 0;
  }
  if (positionals.length < 2) throw new CliError('Must specify image file name');
  const outName = positionals[positionals.length - 1] as string;
  const inNames = positionals.slice(0, -1);
  const noCreate = opts.has('no-create');
  const compress = opts.has('compress');
  const backingName = opts.last('backing');
  if (noCreate && opts.has('options')) throw new CliError('-o has no effect when skipping image creation');
  if (backingName !== undefined && opts.last('backing-format') === undefined) {
    throw new CliError('Use of backing file requires explicit backing format');
  }
  if (opts.has('snapshot')) throw new CliError('Converting from an internal snapshot is not supported');
  let sparseSize = 4096;
  if (opts.last('sparse') !== undefined) {
    const result = parseSize(opts.last('sparse') as string);
    if (!result.ok || (result.bytes !== 0 && result.bytes % 512 !== 0)) {
      throw new CliError(
        'Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16M.',
      );
    }
    sparseSize = result.bytes;
  }
  if (compress && outFormat !== 'qcow2') throw new CliError('Compression not supported for this file format');
  const quiet = opts.has('quiet');
  const progress = new Progress(opts.has('progress') && !quiet ? ctx.out : null);

  const engine = await loadEngine();
  const sourceFormat = formatName(opts.last('format'));
  const sources: EngineImage[] = [];
  let target: EngineImage | undefined;
  try {
    for (const name of inNames) sources.push(await openReadOnly(engine, name, sourceFormat));
    const totalSize = sources.reduce((sum, s) => sum + s.virtualSize, 0);
    if (!noCreate) {
      const values = parsed.values;
      if (backingName !== undefined) {
        values.set('backing_file', backingName);
        values.set('backing_fmt', opts.last('backing-format') as string);
      }
      const spec = await buildCreateSpec(engine, outName, outFormat, values, totalSize, true);
      spec.size = totalSize;
      validateCreateSpec(outName, spec);
      await withOpenContext(outName, () => engine.create(outName, spec));
    }
    target = await openWritable(engine, outName, outFormat);
    if (noCreate && target.virtualSize < totalSize)
      throw new CliError('output file is smaller than input file');
    const plan: ConvertPlan = {
      sources,
      target,
      targetIsZero: !noCreate && backingName === undefined,
      topOnly: backingName !== undefined,
      compress,
      sparseSize,
      progress,
    };
    progress.start();
    await copyImages(plan);
    if (opts.has('bitmaps')) await copyBitmaps(sources, target);
    await target.flush();
    progress.complete();
    progress.end();
  } finally {
    await closeAll(target, ...sources);
  }
  return 0;
}

/** Copies the sources, one after another, into the target. */
export async function copyImages(plan: ConvertPlan): Promise<void> {
  const total = plan.sources.reduce((sum, s) => sum + s.virtualSize, 0);
  const cluster = plan.target.clusterSize ?? 65536;
  const compressBuffer = new Uint8Array(cluster);
  const copier = new ReadAhead(READ_AHEAD, CHUNK);
  let base = 0;
  try {
    for (const source of plan.sources) {
      if (plan.compress && base % cluster !== 0) {
        throw new CliError('Compressed output needs every source but the last to end on a cluster boundary');
      }
      let offset = 0;
      while (offset < source.virtualSize) {
        const want = Math.min(CHUNK, source.virtualSize - offset);
        const status = plan.topOnly
          ? topLayerStatus(await source.blockStatus(offset, want))
          : chainCopyStatus(await chainBlockStatus(source, offset, want));
        const from = offset;
        const at = base + offset;
        const end = at + status.length;
        if (status.kind === 'data' && !plan.compress) {
          await copier.add(
            status.length,
            (view) => source.read(view, from),
            async (view) => {
              await writeData(plan, view, at);
              plan.progress.update(end, total);
            },
          );
        } else {
          // Everything before this range is written first, keeping writes in order.
          await copier.drain();
          if (status.kind === 'zero') {
            if (!plan.targetIsZero) await plan.target.writeZeroes(at, status.length, { mayUnmap: true });
          } else if (status.kind === 'data') {
            await copyCompressed(plan, source, compressBuffer, base, offset, status.length, cluster);
          }
          // 'backing': left unallocated, the target's backing file provides these bytes.
          plan.progress.update(end, total);
        }
        offset += status.length;
      }
      base += source.virtualSize;
    }
    await copier.drain();
  } finally {
    await copier.settle();
  }
}

type CopyStatus = { kind: 'data' | 'zero' | 'backing'; length: number };

function chainCopyStatus(extent: ChainExtent): CopyStatus {
  return { kind: extent.data ? 'data' : 'zero', length: extent.length };
}

function topLayerStatus(extents: Array<{ status: string; length: number }>): CopyStatus {
  const first = extents[0];
  if (!first) throw new Error('empty block status');
  if (first.status === 'data') return { kind: 'data', length: first.length };
  if (first.status === 'zero') return { kind: 'zero', length: first.length };
  return { kind: 'backing', length: first.length };
}

/** Writes data read from a source, skipping (or zeroing) runs of zeroes as -S asks. */
async function writeData(plan: ConvertPlan, view: Uint8Array, at: number): Promise<void> {
  if (plan.sparseSize === 0) {
    await plan.target.write(view, at);
    return;
  }
  for (const run of zeroRuns(view, at, plan.sparseSize)) {
    const runAt = at + run.start;
    if (!run.zero) await plan.target.write(view.subarray(run.start, run.start + run.length), runAt);
    else if (!plan.targetIsZero) await plan.target.writeZeroes(runAt, run.length, { mayUnmap: false });
  }
}

async function copyCompressed(
  plan: ConvertPlan,
  source: EngineImage,
  buffer: Uint8Array,
  base: number,
  offset: number,
  length: number,
  cluster: number,
): Promise<void> {
  const writeCompressed = plan.target.writeCompressed?.bind(plan.target);
  if (!writeCompressed) throw new CliError('Compression not supported for this file format');
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    // Compressed writes cover whole target clusters: read the cluster that contains `pos`.
    const clusterStart = pos - ((base + pos) % cluster);
    const clusterEnd = Math.min(clusterStart + cluster, source.virtualSize);
    buffer.fill(0);
    const view = buffer.subarray(0, clusterEnd - clusterStart);
    await source.read(view, clusterStart);
    if (!isAllZero(view)) await writeCompressed(view, base + clusterStart);
    else if (!plan.targetIsZero)
      await plan.target.writeZeroes(base + clusterStart, view.length, { mayUnmap: true });
    pos = clusterEnd;
  }
}

/** Copies the persistent bitmaps of the sources' top layers (--bitmaps). */
async function copyBitmaps(sources: EngineImage[], target: EngineImage): Promise<void> {
  if (sources.length !== 1) throw new UsageError('Cannot copy bitmaps when converting multiple images');
  const source = sources[0] as EngineImage;
  if (!source.bitmaps || !target.bitmaps) throw new CliError('Source lacks bitmap support');
  for (const bitmap of source.bitmaps.list()) {
    if (bitmap.flags.includes('in-use')) continue;
    await target.bitmaps.add(bitmap.name, {
      granularity: bitmap.granularity,
      disabled: !bitmap.flags.includes('auto'),
    });
    await target.bitmaps.merge(bitmap.name, bitmap.name, source);
  }
}
