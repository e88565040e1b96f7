import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { formatName, openReadOnly, openWritable } from '../commands/common.js';
import { loadEngine } from '../engine/index.js';
import { runIoCommand } from './commands.js';

/** `strata-io [-f FMT] [-r] [-c CMD]... file`: runs each command in order; status 1 if any failed. */
export async function runIo(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'c', long: 'cmd', value: true },
    { short: 'f', long: 'format', value: true },
    { short: 'r', long: 'read-only', value: false },
    { short: 'n', long: 'nocache', value: false },
    { short: 't', long: 'cache', value: true },
    { short: 'd', long: 'discard', value: true },
    { short: 'U', long: 'force-share', value: false },
    { short: 'h', long: 'help', value: false },
    { short: 'V', long: 'version', value: false },
  ]);
  const opts = new OptionBag(options);
  if (opts.has('help')) {
    ctx.out('Usage: strata-io [OPTIONS]... [-c STRING]... file\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('Expecting one image file name');
  const filename = positionals[0] as string;
  const format = formatName(opts.last('format'), filename);
  const engine = await loadEngine();
  let image: Awaited<ReturnType<typeof openReadOnly>>;
  try {
    image = opts.has('read-only')
      ? await openReadOnly(engine, filename, format)
      : await openWritable(engine, filename, format);
  } catch (error) {
    throw new CliError(`can't open device ${filename}: ${stripOpenPrefix(filename, error)}`);
  }
  let ok = true;
  const out = { out: ctx.out, err: ctx.err, now: () => performance.now() / 1000 };
  try {
    for (const line of opts.all('cmd')) {
      if (!(await runIoCommand(image, line, out))) ok = false;
    }
  } finally {
    await image.close();
  }
  return ok ? 0 : 1;
}

function stripOpenPrefix(filename: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const prefix = `Could not open '${filename}': `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}
