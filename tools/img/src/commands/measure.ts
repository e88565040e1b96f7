import type { ImageFormatName } from '@strata/image-format';
import type { CommandContext } from '../cli/context.js';
import { CliError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { parseImageOptions, sizeOption } from '../cli/image-options.js';
import { sizeOrMessage } from '../cli/size.js';
import { loadEngine } from '../engine/index.js';
import type { EngineImage } from '../engine/types.js';
import { toQemuJson } from '../format/qemu-json.js';
import { chainBlockStatus } from './chain-status.js';
import { closeAll, formatName, openReadOnly, outputFormat } from './common.js';
import { bitmapsSize, fullyAllocatedSize } from './qcow2-layout.js';

/** What `measure` reports. */
export interface Measurement {
  required: number;
  fullyAllocated: number;
  bitmaps?: number;
}

/** `measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]` */
export async function measure(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', value: true, key: 'format' },
    { short: 'O', value: true, key: 'output-format' },
    { short: 'o', value: true, key: 'options' },
    { short: 'l', value: true, key: 'snapshot' },
    { long: 'size', value: true },
    { long: 'output', value: true },
    { short: 'U', long: 'force-share', value: false },
  ]);
  const opts = new OptionBag(options);
  const output = outputFormat(opts.last('output'));
  const sizeText = opts.last('size');
  if (sizeText === undefined && positionals.length !== 1) {
    throw new CliError('Either --size N or one filename must be specified.');
  }
  if (sizeText !== undefined && positionals.length > 0) {
    throw new CliError('--size N cannot be used together with a filename.');
  }
  const outFormat = formatName(opts.last('output-format') ?? 'raw') as ImageFormatName;
  const values = parseImageOptions(opts.all('options')).values;
  let source: EngineImage | undefined;
  try {
    let virtualSize: number;
    if (sizeText !== undefined) {
      const parsed = sizeOrMessage('image size', sizeText);
      if ('lines' in parsed) throw new CliError(parsed.lines.join('\n'));
      virtualSize = parsed.bytes;
    } else {
      const filename = positionals[0] as string;
      source = await openReadOnly(await loadEngine(), filename, formatName(opts.last('format'), filename));
      virtualSize = source.virtualSize;
    }
    const result =
      outFormat === 'raw'
        ? { required: virtualSize, fullyAllocated: virtualSize }
        : await measureQcow2(virtualSize, values, source);
    ctx.out(output === 'json' ? formatMeasureJson(result) : formatMeasureHuman(result));
  } finally {
    await closeAll(source);
  }
  return 0;
}

async function measureQcow2(
  virtualSize: number,
  values: Map<string, string>,
  source: EngineImage | undefined,
): Promise<Measurement> {
  const clusterSize = values.has('cluster_size')
    ? sizeOption('cluster_size', values.get('cluster_size') as string)
    : 65536;
  const refcountBits = values.has('refcount_bits') ? Number(values.get('refcount_bits')) : 16;
  const v3 = values.get('compat') !== '0.10' && values.get('compat') !== 'v2';
  const aligned = Math.ceil(virtualSize / clusterSize) * clusterSize;
  // Without a source nothing is written yet: only metadata is required.
  let required = 0;
  if (source) {
    if (values.has('backing_file')) required = aligned;
    else required = await allocatedClusterBytes(source, clusterSize);
  }
  const prealloc = values.get('preallocation');
  if (prealloc === 'full' || prealloc === 'falloc') required = aligned;
  const fullyAllocated = fullyAllocatedSize(aligned, clusterSize, refcountBits);
  const result: Measurement = { required: fullyAllocated - aligned + required, fullyAllocated };
  if (v3 && source?.bitmaps)
    result.bitmaps = bitmapsSize(source.bitmaps.list(), source.virtualSize, clusterSize);
  return result;
}

/** Bytes of whole target clusters touched by data (not zeroes) in the source's chain. */
async function allocatedClusterBytes(source: EngineImage, clusterSize: number): Promise<number> {
  let required = 0;
  let offset = 0;
  while (offset < source.virtualSize) {
    const extent = await chainBlockStatus(source, offset, source.virtualSize - offset);
    let length = extent.length;
    if (extent.data && !extent.zero) {
      length = Math.ceil((offset + length) / clusterSize) * clusterSize - offset;
      required += (offset % clusterSize) + length;
    }
    offset += length;
  }
  return required;
}

/** Human output of measure. */
export function formatMeasureHuman(m: Measurement): string {
  let text = `required size: ${m.required}\nfully allocated size: ${m.fullyAllocated}\n`;
  if (m.bitmaps !== undefined) text += `bitmaps size: ${m.bitmaps}\n`;
  return text;
}

/** JSON output of measure (QEMU's BlockMeasureInfo). */
export function formatMeasureJson(m: Measurement): string {
  return `${toQemuJson({ required: m.required, 'fully-allocated': m.fullyAllocated, bitmaps: m.bitmaps })}\n`;
}
