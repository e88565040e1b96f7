import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { parseSize } from '../cli/size.js';
import { loadEngine } from '../engine/index.js';
import { closeAll, formatName, oneFilename, openWritable } from './common.js';

/** `resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size` */
export async function resize(argv: string[], ctx: CommandContext): Promise<number> {
  // The size is always the last argument, taken before option parsing so that "-1G" is a size.
  if (argv.length < 2) throw new UsageError('Not enough arguments');
  const sizeText = argv[argv.length - 1] as string;
  const { options, positionals } = getopt(argv.slice(0, -1), [
    { short: 'h', long: 'help', value: false },
    { short: 'f', long: 'format', value: true },
    { short: 'q', long: 'quiet', value: false },
    { long: 'shrink', value: false },
    { long: 'preallocation', value: true },
    { short: 'U', long: 'force-share', value: false },
  ]);
  if (positionals.length !== 1) throw new UsageError('Expecting image file name and size');
  const filename = oneFilename(positionals);
  const opts = new OptionBag(options);
  const prealloc = opts.last('preallocation');
  if (prealloc !== undefined && prealloc !== 'off') {
    throw new CliError(`Preallocation mode '${prealloc}' is not supported`);
  }
  let relative = 0;
  let text = sizeText;
  if (text.startsWith('+')) {
    relative = 1;
    text = text.slice(1);
  } else if (text.startsWith('-')) {
    relative = -1;
    text = text.slice(1);
  }
  const parsed = parseSize(text);
  if (!parsed.ok) {
    throw new CliError(
      "Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.",
    );
  }
  const engine = await loadEngine();
  const image = await openWritable(engine, filename, formatName(opts.last('format'), filename), {
    noBacking: true,
  });
  try {
    const current = image.virtualSize;
    const wanted = relative === 0 ? parsed.bytes : current + relative * parsed.bytes;
    if (wanted < 0) throw new CliError('New image size must be positive');
    if (wanted < current && !opts.has('shrink')) {
      throw new CliError(
        'Use the --shrink option to perform a shrink operation.',
        1,
        `${ctx.tool}: warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.\n`,
      );
    }
    await image.resize(wanted, { shrink: wanted < current });
    await image.flush();
  } finally {
    await closeAll(image);
  }
  if (!opts.has('quiet')) ctx.out('Image resized.\n');
  return 0;
}
