import { CliError } from './errors.js';
import { parseSize } from './size.js';

/**
 * A `-o key=val,key2=val` list as qemu-img reads it: comma-separated, `,,` stands for a literal
 * comma, a key without `=` is a request for help when it is `help` or `?`. Several `-o`
 * options concatenate.
 */
export function parseImageOptions(texts: readonly string[]): { values: Map<string, string>; help: boolean } {
  const values = new Map<string, string>();
  let help = false;
  for (const text of texts) {
    for (const item of splitEscaped(text)) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      if (eq < 0) {
        if (item === 'help' || item === '?') {
          help = true;
          continue;
        }
        throw new CliError(`Invalid option list: ${text}`);
      }
      values.set(item.slice(0, eq), item.slice(eq + 1));
    }
  }
  return { values, help };
}

function splitEscaped(text: string): string[] {
  const items: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === ',') {
      if (text[i + 1] === ',') {
        current += ',';
        i++;
        continue;
      }
      items.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  items.push(current);
  return items;
}

/** The creation options each format accepts, with qemu-img's help text for `-o help`. */
export const CREATE_OPTIONS: Record<string, Array<[string, string, string]>> = {
  qcow2: [
    ['backing_file', '<str>', 'File name of a base image'],
    ['backing_fmt', '<str>', 'Image format of the base image'],
    ['cluster_size', '<size>', 'qcow2 cluster size'],
    ['compat', '<str>', 'Compatibility level (v2 [0.10] or v3 [1.1])'],
    ['compression_type', '<str>', 'Compression method used for image cluster compression'],
    ['extended_l2', '<bool (on/off)>', 'Extended L2 tables'],
    ['lazy_refcounts', '<bool (on/off)>', 'Postpone refcount updates'],
    ['preallocation', '<str>', 'Preallocation mode (allowed values: off, metadata, falloc, full)'],
    ['refcount_bits', '<num>', 'Width of a reference count entry in bits'],
    ['size', '<size>', 'Virtual disk size'],
  ],
  raw: [
    ['preallocation', '<str>', 'Preallocation mode (allowed values: off, falloc, full)'],
    ['size', '<size>', 'Virtual disk size'],
  ],
};

/** `-o help` output for a format. */
export function createOptionsHelp(format: string): string {
  let text = 'Supported options:\n';
  for (const [name, type, description] of CREATE_OPTIONS[format] ?? []) {
    text += `  ${`${name}=${type}`.padEnd(22)} - ${description}\n`;
  }
  return text;
}

/** Parses an on/off option value as QEMU does. */
export function boolOption(name: string, value: string): boolean {
  if (value === 'on' || value === 'yes' || value === 'true') return true;
  if (value === 'off' || value === 'no' || value === 'false') return false;
  throw new CliError(`Parameter '${name}' expects 'on' or 'off'`);
}

/** Parses a size-valued option (cluster_size, size). */
export function sizeOption(name: string, value: string): number {
  const parsed = parseSize(value);
  if (!parsed.ok) {
    throw new CliError(
      `Parameter '${name}' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.`,
    );
  }
  return parsed.bytes;
}
