import { UsageError } from './errors.js';

/** One option a command accepts, in getopt_long terms. */
export interface OptionSpec {
  /** The long name (`output` for `--output`), if any. */
  long?: string;
  /** The short letter (`f` for `-f`), if any. */
  short?: string;
  /** Whether the option takes a value. */
  value: boolean;
  /** The key the parsed value is stored under; defaults to the long name, then the short letter. */
  key?: string;
}

/** One occurrence of an option, in command-line order (order matters for `bitmap`). */
export interface ParsedOption {
  key: string;
  value: string | undefined;
}

/** The result of {@link getopt}: options in order and the positional arguments. */
export interface ParsedArgs {
  options: ParsedOption[];
  positionals: string[];
}

/**
 * Parses arguments with GNU getopt_long semantics, which qemu-img and qemu-io use and scripts rely
 * on: options and operands may be interleaved (arguments are permuted), short flags cluster
 * (`-pq`), a short option's value may be attached (`-fqcow2`) or follow, long options take
 * `--name=value` or `--name value` and may be abbreviated to any unambiguous prefix, and `--`
 * ends option processing.
 */
export function getopt(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const options: ParsedOption[] = [];
  const positionals: string[] = [];
  const keyOf = (spec: OptionSpec): string => spec.key ?? spec.long ?? spec.short ?? '';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = findLong(specs, name, arg);
      if (spec.value) {
        let value: string | undefined;
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (i + 1 < argv.length) value = argv[++i];
        else throw new UsageError(`missing argument for option '--${spec.long}'`);
        options.push({ key: keyOf(spec), value });
      } else {
        if (eq >= 0) throw new UsageError(`option '--${spec.long}' doesn't allow an argument`);
        options.push({ key: keyOf(spec), value: undefined });
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string;
        const spec = specs.find((s) => s.short === letter);
        if (!spec) throw new UsageError(`unrecognized option '-${letter}'`);
        if (!spec.value) {
          options.push({ key: keyOf(spec), value: undefined });
          continue;
        }
        let value: string | undefined;
        if (j + 1 < arg.length) value = arg.slice(j + 1);
        else if (i + 1 < argv.length) value = argv[++i];
        else throw new UsageError(`missing argument for option '-${letter}'`);
        options.push({ key: keyOf(spec), value });
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  return { options, positionals };
}

function findLong(specs: readonly OptionSpec[], name: string, arg: string): OptionSpec {
  const exact = specs.find((s) => s.long === name);
  if (exact) return exact;
  const prefixed = name === '' ? [] : specs.filter((s) => s.long?.startsWith(name));
  if (prefixed.length === 1) return prefixed[0] as OptionSpec;
  if (prefixed.length > 1) throw new UsageError(`option '${arg}' is ambiguous`);
  throw new UsageError(`unrecognized option '${arg}'`);
}

/** Convenience view over parsed options for commands. */
export class OptionBag {
  constructor(private readonly parsed: readonly ParsedOption[]) {}

  /** Whether a flag (or valued option) occurred at all. */
  has(key: string): boolean {
    return this.parsed.some((o) => o.key === key);
  }

  /** The last value given for an option (getopt semantics: later occurrences win). */
  last(key: string): string | undefined {
    for (let i = this.parsed.length - 1; i >= 0; i--) {
      const o = this.parsed[i] as ParsedOption;
      if (o.key === key) return o.value;
    }
    return undefined;
  }

  /** Every value given for an option, in order. */
  all(key: string): string[] {
    return this.parsed.filter((o) => o.key === key).map((o) => o.value ?? '');
  }

  /** All occurrences in order. */
  get ordered(): readonly ParsedOption[] {
    return this.parsed;
  }
}
