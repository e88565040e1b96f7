import type { CommandContext } from '../cli/context.js';
import { CliError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { parseSize } from '../cli/size.js';
import { loadEngine } from '../engine/index.js';
import type { BitmapStore, EngineImage } from '../engine/types.js';
import { closeAll, formatName, openReadOnly, openWritable } from './common.js';

/** One bitmap action, applied in command-line order as qemu-img does. */
export type BitmapAction =
  | { op: 'add' | 'remove' | 'clear' | 'enable' | 'disable' }
  | { op: 'merge'; source: string };

/**
 * `bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)...
 * [-b source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap`
 */
export async function bitmap(argv: string[], ctx: CommandContext): Promise<number> {
  void ctx;
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', value: true, key: 'format' },
    { short: 'b', value: true, key: 'source-file' },
    { short: 'F', value: true, key: 'source-format' },
    { short: 'g', value: true, key: 'granularity' },
    { long: 'add', value: false },
    { long: 'remove', value: false },
    { long: 'clear', value: false },
    { long: 'enable', value: false },
    { long: 'disable', value: false },
    { long: 'merge', value: true },
  ]);
  const opts = new OptionBag(options);
  const actions: BitmapAction[] = [];
  for (const o of opts.ordered) {
    if (o.key === 'merge') actions.push({ op: 'merge', source: o.value ?? '' });
    else if (
      o.key === 'add' ||
      o.key === 'remove' ||
      o.key === 'clear' ||
      o.key === 'enable' ||
      o.key === 'disable'
    ) {
      actions.push({ op: o.key });
    }
  }
  if (actions.length === 0) {
    throw new CliError('Need at least one of --add, --remove, --clear, --enable, --disable, or --merge');
  }
  let granularity: number | undefined;
  if (opts.last('granularity') !== undefined) {
    if (!actions.some((a) => a.op === 'add')) throw new CliError('granularity only supported with --add');
    const parsed = parseSize(opts.last('granularity') as string);
    if (!parsed.ok) throw new CliError('Invalid granularity specified');
    granularity = parsed.bytes;
  }
  const sourceFile = opts.last('source-file');
  if (opts.last('source-format') !== undefined && sourceFile === undefined) {
    throw new CliError('-F only supported with -b');
  }
  if (sourceFile !== undefined && !actions.some((a) => a.op === 'merge')) {
    throw new CliError('Merge bitmap source file only supported with --merge');
  }
  if (positionals.length !== 2) throw new CliError('Expecting filename and bitmap name');
  const [filename, name] = positionals as [string, string];
  const engine = await loadEngine();
  const image = await openWritable(engine, filename, formatName(opts.last('format'), filename), {
    noBacking: true,
  });
  let source: EngineImage | undefined;
  try {
    if (sourceFile !== undefined) {
      source = await openReadOnly(engine, sourceFile, formatName(opts.last('source-format'), sourceFile), {
        noBacking: true,
      });
    }
    const store = image.bitmaps;
    for (const action of actions) {
      try {
        if (!store)
          throw new Error(`Can't store persistent bitmaps to '${filename}': Operation not supported`);
        await applyBitmapAction(store, name, action, granularity, source);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new CliError(`Operation ${action.op} on bitmap ${name} failed: ${message}`);
      }
    }
    await image.flush();
  } finally {
    await closeAll(source, image);
  }
  return 0;
}

async function applyBitmapAction(
  store: BitmapStore,
  name: string,
  action: BitmapAction,
  granularity: number | undefined,
  source: EngineImage | undefined,
): Promise<void> {
  switch (action.op) {
    case 'add':
      return store.add(name, granularity === undefined ? {} : { granularity });
    case 'remove':
      return store.remove(name);
    case 'clear':
      return store.clear(name);
    case 'enable':
      return store.enable(name);
    case 'disable':
      return store.disable(name);
    case 'merge':
      return store.merge(name, action.source, source);
  }
}
