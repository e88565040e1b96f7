import { CliError } from '../cli/errors.js';
import type { CommandContext } from '../cli/context.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import {
  formatInfoChainHuman,
  formatInfoHuman,
  formatInfoJson,
  type ImageInfoRecord,
} from '../format/info.js';
import { loadEngine } from '../engine/index.js';
import { closeAll, formatName, oneFilename, openReadOnly, outputFormat } from './common.js';
import { collectImageInfo, resolveBackingPath } from './image-info.js';

/** Longest backing chain followed, like the bound on chain depth everywhere in Strata. */
const MAX_CHAIN = 64;

/** `info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename` */
export async function info(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', long: 'format', value: true },
    { long: 'output', value: true },
    { long: 'backing-chain', value: false },
    { short: 'U', long: 'force-share', value: false },
  ]);
  const opts = new OptionBag(options);
  const output = outputFormat(opts.last('output'));
  const filename = oneFilename(positionals);
  const wantChain = opts.has('backing-chain');
  let format = formatName(opts.last('format'), filename);
  const engine = await loadEngine();

  const chain: ImageInfoRecord[] = [];
  const seen = new Set<string>();
  let current: string | null = filename;
  while (current !== null) {
    if (seen.has(current)) throw new CliError(`Backing file '${current}' creates an infinite loop.`);
    if (chain.length >= MAX_CHAIN) throw new CliError(`Backing chain of '${filename}' is too deep`);
    seen.add(current);
    const image = await openReadOnly(engine, current, format, { noBacking: true });
    try {
      chain.push(await collectImageInfo(image, current));
      if (!wantChain || image.backingFileName === null) current = null;
      else {
        format = image.backingFormat ?? undefined;
        current = resolveBackingPath(current, image.backingFileName);
      }
    } finally {
      await closeAll(image);
    }
  }
  if (output === 'json') ctx.out(formatInfoJson(chain, wantChain));
  else ctx.out(wantChain ? formatInfoChainHuman(chain) : formatInfoHuman(chain[0] as ImageInfoRecord));
  return 0;
}
