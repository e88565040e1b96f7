/**
 * The library behind `strata-img` and `strata-io`: run their command lines in-process, with
 * output captured or sent where you like.
 */
export { type Command, type CommandContext, captureContext, processContext } from './cli/context.js';
export { CliError, UsageError } from './cli/errors.js';
export { runImg } from './run-img.js';
export { runIo } from './io/main.js';
