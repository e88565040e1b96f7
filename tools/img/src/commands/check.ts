import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { loadEngine } from '../engine/index.js';
import type { CheckReport, EngineImage } from '../engine/types.js';
import { checkExitCode, formatCheckHuman, formatCheckJson, formatRepairedHuman } from '../format/check.js';
import { closeAll, formatName, oneFilename, openReadOnly, openWritable, outputFormat } from './common.js';

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
    { long: 'image-opts', value: false },
    { long: 'object', value: true },
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
  const engine = await loadEngine();
  const image: EngineImage = repair
    ? await openWritable(engine, filename, format, { noBacking: true })
    : await openReadOnly(engine, filename, format, { noBacking: true });
  try {
    if (image.format === 'raw')
      throw new CliError('This image format does not support checks', NOT_SUPPORTED_EXIT);
    let report: CheckReport = await engine.check(image, repair);
    for (const line of report.messages) ctx.err(`${line}\n`);
    if (report.corruptionsFixed || report.leaksFixed) {
      const { leaksFixed, corruptionsFixed } = report;
      if (output === 'human' && !quiet) ctx.out(formatRepairedHuman(leaksFixed, corruptionsFixed));
      report = { ...(await engine.check(image, null)), leaksFixed, corruptionsFixed };
    }
    if (!quiet || output === 'json') {
      ctx.out(output === 'json' ? formatCheckJson(filename, image.format, report) : formatCheckHuman(report));
    }
    if (report.checkErrors) ctx.err(`${ctx.tool}: Check failed\n`);
    return checkExitCode(report);
  } finally {
    await closeAll(image);
  }
}
