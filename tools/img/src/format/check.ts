import { cFixed } from './c-fixed.js';
import type { CheckReport } from '../engine/types.js';
import { type QemuJsonObject, toQemuJson } from './qemu-json.js';

/** `qemu-img check` human summary of one check result. */
export function formatCheckHuman(r: CheckReport): string {
  let text = '';
  if (!(r.corruptions || r.leaks || r.checkErrors)) {
    text += 'No errors were found on the image.\n';
  } else {
    if (r.corruptions) {
      text += `\n${r.corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n`;
    }
    if (r.leaks) {
      text += `\n${r.leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n`;
    }
    if (r.checkErrors) text += `\n${r.checkErrors} internal errors have occurred during the check.\n`;
  }
  const total = r.totalClusters ?? 0;
  const allocated = r.allocatedClusters ?? 0;
  if (total !== 0 && allocated !== 0) {
    const pct = (n: number, of: number) => cFixed((n * 100) / of, 2);
    text += `${allocated}/${total} = ${pct(allocated, total)}% allocated, ${pct(r.fragmentedClusters ?? 0, allocated)}% fragmented, ${pct(r.compressedClusters ?? 0, allocated)}% compressed clusters\n`;
  }
  if (r.imageEndOffset) text += `Image end offset: ${r.imageEndOffset}\n`;
  return text;
}

/** The lines printed between a repairing check and the second check of the repaired image. */
export function formatRepairedHuman(leaksFixed: number, corruptionsFixed: number): string {
  return `The following inconsistencies were found and repaired:\n\n    ${leaksFixed} leaked clusters\n    ${corruptionsFixed} corruptions\n\nDouble checking the fixed image now...\n`;
}

/** `qemu-img check --output=json`: QEMU's ImageCheck, zero counters omitted as QEMU does. */
export function formatCheckJson(filename: string, format: string, r: CheckReport): string {
  const nonzero = (n: number | undefined) => (n ? n : undefined);
  const object: QemuJsonObject = {
    filename,
    format,
    'check-errors': r.checkErrors,
    'image-end-offset': nonzero(r.imageEndOffset),
    corruptions: nonzero(r.corruptions),
    leaks: nonzero(r.leaks),
    'corruptions-fixed': nonzero(r.corruptionsFixed),
    'leaks-fixed': nonzero(r.leaksFixed),
    'total-clusters': nonzero(r.totalClusters),
    'allocated-clusters': nonzero(r.allocatedClusters),
    'fragmented-clusters': nonzero(r.fragmentedClusters),
    'compressed-clusters': nonzero(r.compressedClusters),
  };
  return `${toQemuJson(object)}\n`;
}

/** qemu-img check's exit status: 0 clean, 2 corruptions left, 3 only leaks left (1 = check failed). */
export function checkExitCode(r: CheckReport): number {
  if (r.checkErrors) return 1;
  if (r.corruptions) return 2;
  if (r.leaks) return 3;
  return 0;
}
