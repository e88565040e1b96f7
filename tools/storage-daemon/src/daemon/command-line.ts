/** A command-line failure, reported as `<program>: <message>` with exit status 1. */
export class DaemonOptionError extends Error {
  override readonly name = 'DaemonOptionError';
}

/** The options qemu-storage-daemon knows, and whether each takes an argument. */
const OPTIONS = {
  '--help': false,
  '--version': false,
  '--trace': true,
  '--blockdev': true,
  '--chardev': true,
  '--daemonize': false,
  '--export': true,
  '--monitor': true,
  '--nbd-server': true,
  '--object': true,
  '--pidfile': true,
} as const;

/** A long option name. */
export type DaemonOptionName = keyof typeof OPTIONS;

const SHORT: Record<string, DaemonOptionName> = { '-h': '--help', '-V': '--version', '-T': '--trace' };

/** One option as given, in command-line order (the daemon acts on them in that order). */
export interface DaemonArgument {
  option: DaemonOptionName;
  value: string;
  /** How the option was written, for messages (`--blockdev driver=...`). */
  text: string;
}

/**
 * Splits argv the way getopt_long does for qemu-storage-daemon: `--opt value`,
 * `--opt=value`, unambiguous prefixes of long options, `-h`/`-V`/`-T`; a bare word is an
 * error ("Unexpected argument"), as the daemon takes no positional arguments.
 */
export function parseCommandLine(argv: readonly string[]): DaemonArgument[] {
  const out: DaemonArgument[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    let option: DaemonOptionName | undefined;
    let inline: string | undefined;
    if (word.startsWith('--') && word.length > 2) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      if (eq >= 0) inline = word.slice(eq + 1);
      option = resolveLong(name, word);
    } else if (word.startsWith('-') && word.length > 1 && word !== '--') {
      option = SHORT[word.slice(0, 2)];
      if (!option) throw new DaemonOptionError(`invalid option -- '${word.slice(1, 2)}'`);
      if (word.length > 2) inline = word.slice(2);
    } else {
      // getopt stops permuting at "--"; anything after is a positional argument too.
      const positional = word === '--' ? argv[i + 1] : word;
      if (positional === undefined) break;
      throw new DaemonOptionError(`${positional}: Unexpected argument`);
    }
    const takesValue = OPTIONS[option];
    if (!takesValue) {
      if (inline !== undefined) throw new DaemonOptionError(`option '${option}' doesn't allow an argument`);
      out.push({ option, value: '', text: word });
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) {
        throw new DaemonOptionError(
          word.startsWith('--')
            ? `option '${option}' requires an argument`
            : `option requires an argument -- '${word.slice(1, 2)}'`,
        );
      }
      value = argv[++i]!;
    }
    out.push({ option, value, text: inline === undefined ? `${word} ${value}` : word });
  }
  return out;
}

function resolveLong(name: string, word: string): DaemonOptionName {
  if (name in OPTIONS) return name as DaemonOptionName;
  const matches = (Object.keys(OPTIONS) as DaemonOptionName[]).filter((o) => o.startsWith(name));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new DaemonOptionError(`option '${word}' is ambiguous`);
  throw new DaemonOptionError(`unrecognized option '${word}'`);
}
