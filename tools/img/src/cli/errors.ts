/**
 * A failure the command line reports as one line, `<tool>: <message>`, then exits with
 * `exitCode`. Commands throw it (or an ImageError, which the entry point turns into one).
 */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
    /** Text printed after the message as is, without the tool prefix (qemu's error hints). */
    readonly hint?: string,
  ) {
    super(message);
  }
}

/**
 * A malformed command line: reported like CliError and followed by qemu-img's hint line
 * (`Try '<tool> --help' for more information`).
 */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
}
