import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { loadEngine } from '../engine/index.js';
import type { CheckReport } from '../engine/types.js';
import { checkExitCode, formatCheckHuman, formatCheckJson, formatRepairedHuman } from '../format/check.js';
import { formatName, oneFilename, outputFormat, withOpenContext } from './common.js';

/** qemu-img's exit status when a format has no consistency check (ENOTSUP's 63 on purpose). */
const NOT_SUPPORTED_EXIT = 63;

/** `check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] filename` */
export async function check(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', long: 'format', value: true },
    { short: 'r', long: 'repair', value: true },
    { short: 'T', long: 'cache', value: true },
    { short: 'q', long: 'quiet', value: false },
    { long: 'output', value: true },
    { short: 'U', long: 'force-share', value: false },
  ]);
  const opts = new OptionBag(options);
  const repairText = opts.last('repair');
  let repair: 'leaks' | 'all' | null = null;
  if (repairText !== undefined) {
    if (repairText !== 'leaks' && repairText !== 'all') {
      throw new UsageError(`Unknown option value for -r (expecting 'leaks' or 'all'): ${repairText}`);
    }
    repair = repairText;
  }
  const output = outputFormat(opts.last('output'));
  const quiet = opts.has('quiet');
  const filename = oneFilename(positionals);
  const format = formatName(opts.last('format'), filename);
  if (repair && format === undefined) {
    throw new CliError(
      `Could not open '${filename}': the image format must be given with -f when the image is opened for writing (the format of a writable image is never guessed)`,
    );
  }
  const engine = await loadEngine();
  const actual = format ?? (await withOpenContext(filename, () => engine.probeFormat(filename)));
  if (actual === 'raw') throw new CliError('This image format does not support checks', NOT_SUPPORTED_EXIT);
  const report: CheckReport = await withOpenContext(filename, () => engine.check(filename, repair));
  for (const line of report.messages) ctx.err(`${line}\n`);
  const human = output === 'human' && !quiet;
  if (human && (report.corruptionsFixed || report.leaksFixed)) {
    ctx.out(formatRepairedHuman(report.leaksFixed, report.corruptionsFixed));
  }
  if (report.checkErrors) {
    // The check could not finish (qemu-img's check returns -EIO then): no report is printed.
    ctx.err(`${ctx.tool}: Check failed: Input/output error\n`);
    return 1;
  }
  if (output === 'json') ctx.out(formatCheckJson(filename, actual, report));
  else if (human) ctx.out(formatCheckHuman(report));
  return checkExitCode(report);
}
