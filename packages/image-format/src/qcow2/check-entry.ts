import type { ImageFile } from '../image-file.js';
import type { CheckOptions } from './check.js';
import type { CheckResult } from './check-result.js';

export type { CheckOptions } from './check.js';

/**
 * Checks a qcow2 image the way `qemu-img check` does: walks the header, the active and
 * snapshot L1/L2 tables, the snapshot table, the refcount table and blocks and the bitmap
 * directory, counts the references to every host cluster, and compares them with the
 * stored refcounts and COPIED flags. Read-only unless `repair` is given. With repair, the
 * image is repaired and checked again; the result then describes the repaired image, with
 * what was fixed in `leaksFixed` / `corruptionsFixed` (as qemu-img reports it).
 *
 * The checker is loaded on first call: programs that only open, read or write images
 * (and scripts that run `info` thousands of times) do not pay for compiling it.
 */
export async function checkImage(
  target: ImageFile | string,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const checker = await import('./check.js');
  return checker.checkImage(target, options);
}
