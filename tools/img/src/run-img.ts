import type { CommandContext } from './cli/context.js';
import { UsageError } from './cli/errors.js';
import { runReporting } from './cli/run.js';
import { commandNames, loadCommand } from './commands/registry.js';

/**
 * Runs one strata-img command line (the arguments after the program name) and returns its exit
 * status. Output and errors go to `ctx`; failures never throw.
 */
export function runImg(argv: readonly string[], ctx: CommandContext): Promise<number> {
  return runReporting(ctx, async () => {
    const [first, ...rest] = argv;
    if (first === undefined) throw new UsageError('Not enough arguments');
    if (first === '-h' || first === '--help') {
      const { helpText } = await import('./commands/help.js');
      ctx.out(helpText(ctx.tool));
      return 0;
    }
    if (first === '-V' || first === '--version') {
      const { versionText } = await import('./commands/help.js');
      ctx.out(versionText(ctx.tool));
      return 0;
    }
    if (first.startsWith('-')) throw new UsageError(`unrecognized option '${first}'`);
    if (!commandNames.includes(first)) throw new UsageError(`Command not found: ${first}`);
    const command = await loadCommand(first);
    return command(rest, ctx);
  });
}
