// strata-img: the qemu-img compatible command line. Kept small on purpose: each command
// lives in its own module and is imported only when it runs, so a script calling
// `strata-img info` thousands of times pays only for what `info` needs.
import { processContext } from '../cli/context.js';
import { UsageError } from '../cli/errors.js';
import { runReporting } from '../cli/run.js';
import { commandNames, loadCommand } from '../commands/registry.js';

const ctx = processContext('strata-img');
const argv = process.argv.slice(2);

process.exitCode = await runReporting(ctx, async () => {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('Not enough arguments');
  if (first === '-h' || first === '--help') {
    const { helpText } = await import('../commands/help.js');
    ctx.out(helpText(ctx.tool));
    return 0;
  }
  if (first === '-V' || first === '--version') {
    const { versionText } = await import('../commands/help.js');
    ctx.out(versionText(ctx.tool));
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`unrecognized option '${first}'`);
  if (!commandNames.includes(first)) throw new UsageError(`Command not found: ${first}`);
  const command = await loadCommand(first);
  return command(rest, ctx);
});
