/** Where a command writes and what it may read from its environment; injectable for tests. */
export interface CliContext {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
}

/** A problem with the command line itself (exit status 2, like virsh). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit statuses of the `strata` command. */
export const EXIT = {
  ok: 0,
  /** The document is invalid or could not be read. */
  invalid: 1,
  /** The command line is wrong. */
  usage: 2,
} as const;
