/**
 * @strata/cli: the `strata` command line. Its entry point is also usable as a library, so a
 * program can run the same commands in-process with its own output streams.
 */
export { main } from './cli/main.js';
export type { CliContext } from './cli/io.js';
export { EXIT, UsageError } from './cli/io.js';
