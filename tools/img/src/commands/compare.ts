import type { ImageDriver } from '@strata/image-format';
import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt, OptionBag } from '../cli/getopt.js';
import { runReporting } from '../cli/run.js';
import { loadEngine } from '../engine/index.js';
import type { EngineImage } from '../engine/types.js';
import { Progress } from '../format/progress.js';
import { chainBlockStatus } from './chain-status.js';
import { closeAll, formatName, openReadOnly } from './common.js';
import { isAllZero } from './zero-detect.js';

/** Exit status of compare when something failed (distinct from "differs", which is 1). */
const COMPARE_ERROR = 2;
/** Largest piece read at once; also bounds memory for huge images. */
const BUFFER = 2 * 1024 * 1024;
/** Mismatches are reported at the start of the first differing 512-byte sector, as qemu-img does. */
const SECTOR = 512;

/** `compare [-f fmt] [-F fmt] [-p] [-q] [-s] [-U] filename1 filename2` */
export async function compare(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'f', value: true, key: 'fmt1' },
    { short: 'F', value: true, key: 'fmt2' },
    { short: 'T', value: true, key: 'cache' },
    { short: 'p', value: false, key: 'progress' },
    { short: 'q', value: false, key: 'quiet' },
    { short: 's', value: false, key: 'strict' },
    { short: 'U', long: 'force-share', value: false },
  ]);
  if (positionals.length !== 2) throw new UsageError('Expecting two image file names');
  const [file1, file2] = positionals as [string, string];
  const opts = new OptionBag(options);
  const quiet = opts.has('quiet');
  const strict = opts.has('strict');
  const say = (text: string) => {
    if (!quiet) ctx.out(text);
  };
  const progress = new Progress(opts.has('progress') && !quiet ? ctx.out : null);
  // Every failure from here on is "could not compare", which scripts tell apart by status 2.
  const status = await runReporting(ctx, async () => {
    const engine = await loadEngine();
    let image1: EngineImage | undefined;
    let image2: EngineImage | undefined;
    try {
      image1 = await openReadOnly(engine, file1, formatName(opts.last('fmt1'), file1));
      image2 = await openReadOnly(engine, file2, formatName(opts.last('fmt2'), file2));
      progress.start();
      const verdict = await compareImages(image1, image2, strict, (done, total) =>
        progress.update(done, total),
      );
      say(verdict.message);
      return verdict.differs ? 1 : 0;
    } catch (error) {
      throw new CliError(error instanceof Error ? error.message : String(error), COMPARE_ERROR);
    } finally {
      await closeAll(image1, image2);
    }
  });
  progress.end();
  return status;
}

/** The outcome of comparing two images' guest-visible contents. */
export interface CompareVerdict {
  differs: boolean;
  message: string;
}

/**
 * Compares what two images read. Sizes may differ: the longer image must then read zeroes
 * past the shorter one's end (in strict mode sizes and allocation must match exactly).
 */
export async function compareImages(
  a: ImageDriver,
  b: ImageDriver,
  strict: boolean,
  onProgress: (done: number, total: number) => void = () => {},
): Promise<CompareVerdict> {
  let message = '';
  if (a.virtualSize !== b.virtualSize) {
    if (strict) return { differs: true, message: 'Strict mode: Image size mismatch!\n' };
    message += 'Warning: Image size mismatch!\n';
  }
  const common = Math.min(a.virtualSize, b.virtualSize);
  const total = Math.max(a.virtualSize, b.virtualSize);
  const bufA = new Uint8Array(BUFFER);
  const bufB = new Uint8Array(BUFFER);
  let offset = 0;
  while (offset < common) {
    const sa = await chainBlockStatus(a, offset, common - offset);
    const sb = await chainBlockStatus(b, offset, common - offset);
    const aZero = sa.zero && !sa.data;
    const bZero = sb.zero && !sb.data;
    const chunk = aZero && bZero ? Math.min(sa.length, sb.length) : Math.min(sa.length, sb.length, BUFFER);
    if (strict && (sa.present !== sb.present || sa.zero !== sb.zero || sa.data !== sb.data)) {
      return { differs: true, message: `${message}Strict mode: Offset ${offset} block status mismatch!\n` };
    }
    if (!(aZero && bZero)) {
      const va = bufA.subarray(0, chunk);
      const vb = bufB.subarray(0, chunk);
      if (aZero) va.fill(0);
      else await a.read(va, offset);
      if (bZero) vb.fill(0);
      else await b.read(vb, offset);
      const at = firstDifference(va, vb);
      if (at >= 0)
        return { differs: true, message: `${message}Content mismatch at offset ${offset + at}!\n` };
    }
    offset += chunk;
    onProgress(offset, total);
  }
  const longer = a.virtualSize > b.virtualSize ? a : b;
  while (offset < total) {
    const s = await chainBlockStatus(longer, offset, total - offset);
    const chunk = Math.min(s.length, BUFFER);
    if (!(s.zero && !s.data)) {
      const view = bufA.subarray(0, chunk);
      await longer.read(view, offset);
      const at = firstNonZero(view);
      if (at >= 0)
        return { differs: true, message: `${message}Content mismatch at offset ${offset + at}!\n` };
    }
    offset += chunk;
    onProgress(offset, total);
  }
  return { differs: false, message: `${message}Images are identical.\n` };
}

/** Offset of the first 512-byte sector that differs, or -1. */
function firstDifference(x: Uint8Array, y: Uint8Array): number {
  if (Buffer.compare(x, y) === 0) return -1;
  for (let i = 0; i < x.length; i += SECTOR) {
    const end = Math.min(x.length, i + SECTOR);
    if (Buffer.compare(x.subarray(i, end), y.subarray(i, end)) !== 0) return i;
  }
  return -1;
}

/** Offset of the first 512-byte sector holding a non-zero byte, or -1. */
function firstNonZero(x: Uint8Array): number {
  if (isAllZero(x)) return -1;
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== 0) return i - (i % SECTOR);
  }
  return -1;
}
