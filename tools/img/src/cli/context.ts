/**
 * Where a command writes and what it knows about its terminal. Commands never touch
 * `process` directly, so tests can run them in-process and capture their output.
 */
export interface CommandContext {
  /** The program name used in messages (`strata-img`). */
  readonly tool: string;
  out(text: string): void;
  err(text: string): void;
  /** Whether standard output is a terminal (progress is shown there by default). */
  readonly stdoutIsTerminal: boolean;
}

/** A command: parses its own arguments and returns the process exit status. */
export type Command = (argv: string[], ctx: CommandContext) => Promise<number>;

/** A context over the real process streams. */
export function processContext(tool: string): CommandContext {
  return {
    tool,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    stdoutIsTerminal: Boolean(process.stdout.isTTY),
  };
}

/** A context that records output, for tests. */
export function captureContext(tool = 'strata-img'): CommandContext & { stdout: string; stderr: string } {
  const ctx = {
    tool,
    stdout: '',
    stderr: '',
    stdoutIsTerminal: false,
    out(text: string) {
      ctx.stdout += text;
    },
    err(text: string) {
      ctx.stderr += text;
    },
  };
  return ctx;
}
