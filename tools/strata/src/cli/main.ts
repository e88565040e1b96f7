import { type CliContext, EXIT, UsageError } from './io.js';
import { FORMAT_USAGE, xmlFormat } from './xml-format.js';
import { VALIDATE_USAGE, xmlValidate } from './xml-validate.js';

const USAGE = `usage: strata <command> [args]

commands available now:
  xml validate FILE    check a libvirt domain, snapshot or disk document
  xml format FILE      print a document in the canonical form libvirt writes

The virsh-style domain, snapshot and block-job commands are not available yet.
Run 'strata xml validate --help' or 'strata xml format --help' for options.
`;

/** Runs the `strata` command line and returns its exit status. */
export async function main(argv: readonly string[], ctx: CliContext): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      ctx.stdout(USAGE);
      return command === undefined ? EXIT.usage : EXIT.ok;
    }
    if (command !== 'xml') {
      ctx.stderr(
        `strata: command '${command}' is not available yet; available now: 'xml validate', 'xml format'\n`,
      );
      return EXIT.usage;
    }
    switch (sub) {
      case 'validate':
        return await xmlValidate(rest, ctx);
      case 'format':
        return await xmlFormat(rest, ctx);
      case undefined:
      case '--help':
        ctx.stdout(`${VALIDATE_USAGE}\n${FORMAT_USAGE}`);
        return sub === undefined ? EXIT.usage : EXIT.ok;
      default:
        ctx.stderr(`strata: unknown xml subcommand '${sub}'; use 'xml validate' or 'xml format'\n`);
        return EXIT.usage;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.stderr(`strata: ${error.message}\n`);
      return EXIT.usage;
    }
    throw error;
  }
}
