import type { CommandContext } from './context.js';
import { CliError, UsageError } from './errors.js';

/**
 * Runs a command and turns every failure into qemu-img's way of reporting it: one line
 * `<tool>: <message>` on stderr (plus the help hint after a usage error) and exit status 1,
 * never a stack trace. Errors from the image library carry messages meant for users.
 */
export async function runReporting(ctx: CommandContext, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    return reportError(ctx, error);
  }
}

/** Prints `error` as qemu-img would and returns the exit status to use. */
export function reportError(ctx: CommandContext, error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  for (const line of message.split('\n')) ctx.err(`${ctx.tool}: ${line}\n`);
  if (error instanceof CliError && error.hint) ctx.err(error.hint);
  if (error instanceof UsageError) ctx.err(`Try '${ctx.tool} --help' for more information\n`);
  if (error instanceof CliError) return error.exitCode;
  return 1;
}
