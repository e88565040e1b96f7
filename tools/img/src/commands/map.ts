import type { CommandContext } from '../cli/context.js';
import { CliError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { parseSize } from '../cli/size.js';
import { loadEngine } from '../engine/index.js';
import { MAP_HUMAN_HEADER, mapEntryHuman, mapEntryJson } from '../format/map.js';
import { mapChain } from './chain-status.js';
import { closeAll, formatName, oneFilename, openReadOnly, outputFormat } from './common.js';

/** `map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename` */
export async function map(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', long: 'format', value: true },
    { long: 'output', value: true },
    { short: 's', long: 'start-offset', value: true },
    { short: 'l', long: 'max-length', value: true },
    { short: 'U', long: 'force-share', value: false },
  ]);
  const opts = new OptionBag(options);
  const output = outputFormat(opts.last('output'));
  const start = offsetOption(opts.last('start-offset'), 'start offset');
  const maxLength = offsetOption(opts.last('max-length'), 'max length');
  const filename = oneFilename(positionals);
  const engine = await loadEngine();
  const image = await openReadOnly(engine, filename, formatName(opts.last('format'), filename));
  try {
    const end = Math.min(image.virtualSize, maxLength === undefined ? Infinity : (start ?? 0) + maxLength);
    if (output === 'human') ctx.out(MAP_HUMAN_HEADER);
    else ctx.out('[');
    let first = true;
    const from = start ?? 0;
    if (from >= end && output === 'json') {
      // qemu-img prints one empty entry when there is nothing to map.
      ctx.out(mapEntryJson({ start: from, length: 0, depth: 0, present: false, zero: false, data: false }));
    }
    for await (const extent of mapChain(image, from, end, filename)) {
      if (output === 'json') {
        ctx.out(`${first ? '' : ',\n'}${mapEntryJson(extent)}`);
      } else {
        try {
          ctx.out(mapEntryHuman(extent));
        } catch (error) {
          throw new CliError((error as Error).message);
        }
      }
      first = false;
    }
    if (output === 'json') ctx.out(']\n');
  } finally {
    await closeAll(image);
  }
  return 0;
}

function offsetOption(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const parsed = parseSize(text);
  if (!parsed.ok)
    throw new CliError(`Invalid ${what} specified! You may use k, M, G, T, P or E suffixes for`);
  return parsed.bytes;
}
