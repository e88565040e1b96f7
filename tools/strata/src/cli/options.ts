import { UsageError } from './io.js';

/** The result of splitting a command line into flags, valued options and operands. */
export interface ParsedArgs {
  flags: Set<string>;
  values: Map<string, string>;
  operands: string[];
}

/**
 * Splits `args` by a fixed table: `flags` take no value, `valued` take one (`--x v` or `--x=v`).
 * Unknown options are usage errors; `--` ends option parsing.
 */
export function parseArgs(
  args: readonly string[],
  flags: readonly string[],
  valued: readonly string[],
): ParsedArgs {
  const out: ParsedArgs = { flags: new Set(), values: new Map(), operands: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.operands.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      out.operands.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (flags.includes(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
      out.flags.add(name);
    } else if (valued.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`option --${name} needs a value`);
      out.values.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return out;
}
