import type { ImageDriver } from '@strata/image-format';
import { getopt, OptionBag, type OptionSpec } from '../cli/getopt.js';
import { parseSize } from '../cli/size.js';
import { hexDump, mapLine, requestReport } from './report.js';

/** Where qemu-io commands write: most messages go to stdout, a few to stderr. */
export interface IoOutput {
  out(text: string): void;
  err(text: string): void;
  /** Seconds since an arbitrary origin, for the timing lines. */
  now(): number;
}

/** A failed command: the message is already printed; the run's exit status becomes 1. */
export class IoCommandFailed extends Error {}

interface IoCommand {
  minArgs: number;
  /** -1: no upper bound on words (options included), as qemu-io counts them. */
  maxArgs: number;
  /** The usage line printed when the operands are wrong. */
  usage: string;
  options: OptionSpec[];
  run(image: ImageDriver, opts: OptionBag, args: string[], out: IoOutput): Promise<void>;
}

const COMMANDS: Record<string, IoCommand> = {
  read: {
    minArgs: 2,
    maxArgs: -1,
    usage:
      'read [-abCqv] [-P pattern [-s off] [-l len]] off len -- reads a number of bytes at a specified offset',
    options: [
      { short: 'P', value: true, key: 'pattern' },
      { short: 'v', value: false, key: 'verbose' },
      { short: 'q', value: false, key: 'quiet' },
    ],
    async run(image, opts, args, out) {
      const [offset, count] = numbers(args, out);
      const pattern = opts.has('pattern') ? patternByte(opts.last('pattern') as string, out) : undefined;
      const buf = new Uint8Array(count);
      const start = out.now();
      await request(out, 'read', () => image.read(buf, offset), offset, count, image.virtualSize);
      const seconds = out.now() - start;
      let failed = false;
      if (pattern !== undefined && buf.some((b) => b !== pattern)) {
        out.out(`Pattern verification failed at offset ${offset}, ${count} bytes\n`);
        failed = true;
      }
      if (!opts.has('quiet')) {
        if (opts.has('verbose')) out.out(hexDump(buf, offset));
        out.out(requestReport('read', offset, count, seconds));
      }
      if (failed) throw new IoCommandFailed('pattern');
    },
  },
  write: {
    minArgs: 2,
    maxArgs: -1,
    usage: 'write [-bcCfnquz] [-P pattern] off len -- writes a number of bytes at a specified offset',
    options: [
      { short: 'P', value: true, key: 'pattern' },
      { short: 'z', value: false, key: 'zero' },
      { short: 'u', value: false, key: 'unmap' },
      { short: 'q', value: false, key: 'quiet' },
    ],
    async run(image, opts, args, out) {
      if (opts.has('zero') && opts.has('pattern')) {
        out.out('Only one of -z, -P, and -s can be specified at the same time\n');
        throw new IoCommandFailed('usage');
      }
      if (opts.has('unmap') && !opts.has('zero')) {
        out.out('-u requires -z to be specified\n');
        throw new IoCommandFailed('usage');
      }
      const [offset, count] = numbers(args, out);
      const pattern = opts.has('pattern') ? patternByte(opts.last('pattern') as string, out) : 0xcd;
      const start = out.now();
      if (opts.has('zero')) {
        await request(
          out,
          'write',
          () => image.writeZeroes(offset, count, { mayUnmap: opts.has('unmap') }),
          offset,
          count,
          image.virtualSize,
        );
      } else {
        const buf = new Uint8Array(count).fill(pattern);
        await request(out, 'write', () => image.write(buf, offset), offset, count, image.virtualSize);
      }
      if (!opts.has('quiet')) out.out(requestReport('wrote', offset, count, out.now() - start));
    },
  },
  discard: {
    minArgs: 2,
    maxArgs: -1,
    usage: 'discard [-Cq] off len -- discards a number of bytes at a specified offset',
    options: [{ short: 'q', value: false, key: 'quiet' }],
    async run(image, opts, args, out) {
      const [offset, count] = numbers(args, out);
      const start = out.now();
      await request(out, 'discard', () => image.discard(offset, count), offset, count, image.virtualSize);
      if (!opts.has('quiet')) out.out(requestReport('discard', offset, count, out.now() - start));
    },
  },
  flush: {
    minArgs: 0,
    maxArgs: 0,
    usage: 'flush  -- flush all in-core file state to disk',
    options: [],
    async run(image, _opts, _args, out) {
      try {
        await image.flush();
      } catch (error) {
        out.out(`flush failed: ${errorText(error)}\n`);
        throw new IoCommandFailed('flush');
      }
    },
  },
  map: {
    minArgs: 0,
    maxArgs: 0,
    usage: 'map  -- prints the allocated areas of a file',
    options: [],
    async run(image, _opts, _args, out) {
      let offset = 0;
      const size = image.virtualSize;
      while (offset < size) {
        const extents = await image.blockStatus(offset, size - offset);
        const first = extents[0];
        if (!first) break;
        const allocated = first.status !== 'unallocated';
        let length = 0;
        for (const e of extents) {
          if ((e.status !== 'unallocated') !== allocated) break;
          length += e.length;
        }
        // Merge with what follows in later queries too, as qemu-io reports maximal runs.
        let end = offset + length;
        while (end < size) {
          const [next] = await image.blockStatus(end, size - end);
          if (!next || (next.status !== 'unallocated') !== allocated) break;
          end += next.length;
        }
        out.out(mapLine(offset, end - offset, allocated));
        offset = end;
      }
    },
  },
};

/**
 * Runs one `-c` command line against the image. Returns false when the command failed (its
 * message already printed), true otherwise.
 */
export async function runIoCommand(image: ImageDriver, line: string, out: IoOutput): Promise<boolean> {
  const words = line
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  const [name, ...rest] = words;
  if (name === undefined) return true;
  const command = COMMANDS[name];
  if (!command) {
    out.err(`command "${name}" not found\n`);
    return false;
  }
  if (rest.length < command.minArgs || (command.maxArgs !== -1 && rest.length > command.maxArgs)) {
    let expected: string;
    if (command.maxArgs === -1) expected = `expected at least ${command.minArgs} arguments`;
    else if (command.minArgs === command.maxArgs) expected = `expected ${command.minArgs} arguments`;
    else expected = `expected between ${command.minArgs} and ${command.maxArgs} arguments`;
    out.err(`bad argument count ${rest.length} to ${name}, ${expected}\n`);
    return false;
  }
  try {
    let parsed: { options: Array<{ key: string; value: string | undefined }>; positionals: string[] };
    try {
      parsed = getopt(rest, command.options);
    } catch (error) {
      const letter = /'-(.)'/.exec((error as Error).message)?.[1] ?? '?';
      out.err(`${name}: invalid option -- '${letter}'\n`);
      out.out(`${command.usage}\n`);
      return false;
    }
    const args = parsed.positionals;
    if (args.length !== command.minArgs) {
      out.out(`${command.usage}\n`);
      return false;
    }
    await command.run(image, new OptionBag(parsed.options), args, out);
    return true;
  } catch (error) {
    if (error instanceof IoCommandFailed) return false;
    out.out(`${name} failed: ${errorText(error)}\n`);
    return false;
  }
}

function numbers(args: string[], out: IoOutput): [number, number] {
  const values = args.map((text) => {
    const parsed = parseSize(text);
    if (!parsed.ok) {
      out.out(`Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- ${text}\n`);
      throw new IoCommandFailed('parse');
    }
    return parsed.bytes;
  });
  return [values[0] as number, values[1] as number];
}

function patternByte(text: string, out: IoOutput): number {
  const value = /^0x[0-9a-f]+$/i.test(text)
    ? Number.parseInt(text, 16)
    : /^-?\d+$/.test(text)
      ? Number(text)
      : Number.NaN;
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    out.out(`${text} is not a valid pattern byte\n`);
    throw new IoCommandFailed('pattern');
  }
  return value;
}

async function request(
  out: IoOutput,
  op: string,
  body: () => Promise<void>,
  offset: number,
  count: number,
  size: number,
): Promise<void> {
  // qemu-io refuses requests past the end with EIO before they reach the image.
  if (offset + count > size) {
    out.out(`${op} failed: Input/output error\n`);
    throw new IoCommandFailed(op);
  }
  try {
    await body();
  } catch (error) {
    out.out(`${op} failed: ${errorText(error)}\n`);
    throw new IoCommandFailed(op);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
