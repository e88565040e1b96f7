import type { ImageFormatName } from '@strata/image-format';
import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import {
  boolOption,
  CREATE_OPTIONS,
  createOptionsHelp,
  parseImageOptions,
  sizeOption,
} from '../cli/image-options.js';
import { sizeOrMessage } from '../cli/size.js';
import { loadEngine } from '../engine/index.js';
import type { CreateSpec, Engine } from '../engine/types.js';
import { closeAll, formatName, openReadOnly } from './common.js';
import { resolveBackingPath } from './image-info.js';

/** `create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]` */
export async function create(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', value: true, key: 'format' },
    { short: 'F', value: true, key: 'backing-format' },
    { short: 'b', value: true, key: 'backing' },
    { short: 'o', value: true, key: 'options' },
    { short: 'q', value: false, key: 'quiet' },
    { short: 'u', value: false, key: 'unsafe' },
  ]);
  const opts = new OptionBag(options);
  const format = formatName(opts.last('format') ?? 'raw') as ImageFormatName;
  const parsed = parseImageOptions(opts.all('options'));
  if (parsed.help) {
    ctx.out(createOptionsHelp(format));
    return 0;
  }
  const [filename, sizeText, ...extra] = positionals;
  if (filename === undefined) throw new UsageError('Expecting image file name');
  if (extra.length > 0) throw new UsageError(`Unexpected argument: ${extra[0]}`);
  const values = parsed.values;
  if (opts.last('backing') !== undefined) values.set('backing_file', opts.last('backing') as string);
  if (opts.last('backing-format') !== undefined)
    values.set('backing_fmt', opts.last('backing-format') as string);
  let size: number | undefined;
  if (sizeText !== undefined) {
    const result = sizeOrMessage('image size', sizeText);
    if ('lines' in result) throw new CliError(result.lines.join('\n'));
    size = result.bytes;
  }
  const engine = await loadEngine();
  const spec = await buildCreateSpec(engine, filename, format, values, size, opts.has('unsafe'));
  if (!opts.has('quiet')) ctx.out(`Formatting '${filename}', ${describeCreate(spec, values)}\n`);
  validateCreateSpec(filename, spec);
  try {
    await engine.create(filename, spec);
  } catch (error) {
    throw new CliError(`${filename}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return 0;
}

/** Turns qemu-img create's options into a creation request, reading the backing image's size if needed. */
export async function buildCreateSpec(
  engine: Engine,
  filename: string,
  format: ImageFormatName,
  values: Map<string, string>,
  size: number | undefined,
  unsafe: boolean,
): Promise<CreateSpec> {
  const allowed = new Set((CREATE_OPTIONS[format] ?? []).map(([name]) => name));
  for (const key of values.keys()) {
    if (!allowed.has(key)) throw new CliError(`${filename}: Invalid parameter '${key}'`);
  }
  if (values.has('size')) size = sizeOption('size', values.get('size') as string);
  const spec: CreateSpec = { format, size: size ?? -1 };
  const backingFile = values.get('backing_file');
  if (backingFile !== undefined) {
    spec.backingFile = backingFile;
    const backingFormatText = values.get('backing_fmt');
    if (backingFormatText === undefined) {
      // Guessing is harmless here (read-only) and only serves the hint qemu-img gives.
      let guessed: string;
      try {
        guessed = await engine.probeFormat(resolveBackingPath(filename, backingFile));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new CliError(`${filename}: ${message}`, 1, 'Could not open backing image.\n');
      }
      throw new CliError(
        `${filename}: Backing file specified without backing format`,
        1,
        `Detected format of ${guessed}.`,
      );
    }
    spec.backingFormat = formatName(backingFormatText) as ImageFormatName;
    if (!unsafe || size === undefined) {
      const path = resolveBackingPath(filename, backingFile);
      let backing: Awaited<ReturnType<typeof openReadOnly>> | undefined;
      try {
        backing = await openReadOnly(engine, path, spec.backingFormat, { noBacking: true });
        if (size === undefined) spec.size = backing.virtualSize;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new CliError(`${filename}: ${message}`, 1, 'Could not open backing image.\n');
      } finally {
        await closeAll(backing);
      }
    }
  }
  if (spec.size < 0) throw new CliError(`${filename}: Image creation needs a size parameter`);
  const cluster = values.get('cluster_size');
  if (cluster !== undefined) spec.clusterSize = sizeOption('cluster_size', cluster);
  const compat = values.get('compat');
  if (compat !== undefined) {
    if (compat === '0.10' || compat === 'v2') spec.compat = '0.10';
    else if (compat === '1.1' || compat === 'v3') spec.compat = '1.1';
    else throw new CliError(`${filename}: Parameter 'version' does not accept value '${compat}'`);
  }
  const lazy = values.get('lazy_refcounts');
  if (lazy !== undefined) spec.lazyRefcounts = boolOption('lazy_refcounts', lazy);
  const refcountBits = values.get('refcount_bits');
  if (refcountBits !== undefined) spec.refcountBits = Number(refcountBits);
  const prealloc = values.get('preallocation');
  if (prealloc !== undefined) {
    if (prealloc !== 'off' && prealloc !== 'metadata' && prealloc !== 'falloc' && prealloc !== 'full') {
      throw new CliError(`${filename}: Parameter 'preallocation' does not accept value '${prealloc}'`);
    }
    spec.preallocation = prealloc;
  }
  const extendedL2 = values.get('extended_l2');
  if (extendedL2 !== undefined && boolOption('extended_l2', extendedL2)) {
    throw new CliError(`${filename}: Extended L2 entries are not supported`);
  }
  const compression = values.get('compression_type');
  if (compression !== undefined && compression !== 'zlib') {
    throw new CliError(`${filename}: Compression type '${compression}' is not supported`);
  }
  return spec;
}

/** The option summary qemu-img prints after "Formatting '<name>', ". */
export function describeCreate(spec: CreateSpec, values: Map<string, string>): string {
  if (spec.format === 'raw') {
    let text = `fmt=raw size=${spec.size}`;
    if (spec.preallocation !== undefined) text += ` preallocation=${spec.preallocation}`;
    return text;
  }
  const parts = [`fmt=qcow2`, `cluster_size=${spec.clusterSize ?? 65536}`, 'extended_l2=off'];
  if (spec.preallocation !== undefined) parts.push(`preallocation=${spec.preallocation}`);
  parts.push('compression_type=zlib', `size=${spec.size}`);
  if (values.has('compat')) parts.push(`compat=${values.get('compat')}`);
  if (spec.backingFile !== undefined) parts.push(`backing_file=${spec.backingFile}`);
  if (spec.backingFormat !== undefined) parts.push(`backing_fmt=${spec.backingFormat}`);
  parts.push(
    `lazy_refcounts=${spec.lazyRefcounts ? 'on' : 'off'}`,
    `refcount_bits=${spec.refcountBits ?? 16}`,
  );
  return parts.join(' ');
}

/** Checks qcow2 creation parameters with qemu-img's wording (after the "Formatting" line, as qemu-img). */
export function validateCreateSpec(filename: string, spec: CreateSpec): void {
  if (spec.format !== 'qcow2') return;
  const cluster = spec.clusterSize ?? 65536;
  if (cluster < 512 || cluster > 2 * 1024 * 1024 || (cluster & (cluster - 1)) !== 0) {
    throw new CliError(`${filename}: Cluster size must be a power of two between 512 and 2048k`);
  }
  const bits = spec.refcountBits ?? 16;
  if (!Number.isInteger(bits) || bits < 1 || bits > 64 || (bits & (bits - 1)) !== 0) {
    throw new CliError(`${filename}: Refcount width must be a power of two and may not exceed 64 bits`);
  }
  if (spec.compat === '0.10' && spec.lazyRefcounts) {
    throw new CliError(
      `${filename}: Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or greater)`,
    );
  }
  if (spec.compat === '0.10' && bits !== 16) {
    throw new CliError(
      `${filename}: Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)`,
    );
  }
}
