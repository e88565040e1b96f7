/** How much `checkImage` may repair: leaked clusters only, or also refcounts that are too low and COPIED flags. */
export type CheckRepairMode = 'leaks' | 'all';

/**
 * The outcome of a consistency check, with qemu-img check's categories. Counters are
 * those of the final state; the `...Fixed` counters say what a repair changed.
 */
export interface CheckResult {
  filename: string;
  format: 'qcow2';
  /** Problems that stopped parts of the check from running (I/O errors, unsupported structures). */
  checkErrors: number;
  /** Metadata that is wrong: refcounts too low, bad COPIED flags, misaligned or out-of-file tables. */
  corruptions: number;
  /** Clusters whose refcount is higher than the references to them. */
  leaks: number;
  corruptionsFixed: number;
  leaksFixed: number;
  /** One past the last cluster in use, in bytes. */
  imageEndOffset: number;
  /** Clusters of the virtual disk. */
  totalClusters: number;
  /** Guest clusters with data in this image (from the active L1 table). */
  allocatedClusters: number;
  fragmentedClusters: number;
  compressedClusters: number;
  /** One line per problem, worded as qemu-img check prints them. */
  messages: string[];
  /**
   * Set when the check had to stop before the end, as qemu-img does with
   * `Check failed: <reason>` (exit status 1, no report): for example when leaks were to be
   * repaired but the refcount structure itself needs rebuilding.
   */
  failure?: string;
}

/** `qemu-img check --output=json` (QAPI `ImageCheck`): member names and which are omitted when zero. */
export interface ImageCheckJson {
  filename: string;
  format: string;
  'check-errors': number;
  'image-end-offset'?: number;
  corruptions?: number;
  leaks?: number;
  'corruptions-fixed'?: number;
  'leaks-fixed'?: number;
  'total-clusters'?: number;
  'allocated-clusters'?: number;
  'fragmented-clusters'?: number;
  'compressed-clusters'?: number;
}

/** Converts a {@link CheckResult} to the JSON qemu-img prints, in qemu-img's member order. */
export function toImageCheckJson(result: CheckResult): ImageCheckJson {
  const json: ImageCheckJson = {
    filename: result.filename,
    format: result.format,
    'check-errors': result.checkErrors,
  };
  const optional: [keyof ImageCheckJson, number][] = [
    ['image-end-offset', result.imageEndOffset],
    ['corruptions', result.corruptions],
    ['leaks', result.leaks],
    ['corruptions-fixed', result.corruptionsFixed],
    ['leaks-fixed', result.leaksFixed],
    ['total-clusters', result.totalClusters],
    ['allocated-clusters', result.allocatedClusters],
    ['fragmented-clusters', result.fragmentedClusters],
    ['compressed-clusters', result.compressedClusters],
  ];
  // qemu-img leaves an optional member out when its value is zero.
  for (const [key, value] of optional) if (value !== 0) Object.assign(json, { [key]: value });
  return json;
}

/**
 * qemu-img check's exit status for a finished check: 1 when the check itself hit errors,
 * 2 when corruptions remain, 3 when only leaks remain, 0 when the image is (now) consistent.
 */
export function checkExitCode(result: CheckResult): 0 | 1 | 2 | 3 {
  if (result.failure !== undefined || result.checkErrors > 0) return 1;
  if (result.corruptions > 0) return 2;
  if (result.leaks > 0) return 3;
  return 0;
}

/**
 * The human-readable report qemu-img check prints on stdout (problems themselves are in
 * `messages`, which qemu-img prints on stderr).
 */
export function formatCheckReport(result: CheckResult): string {
  const lines: string[] = [];
  const clean = result.corruptions === 0 && result.leaks === 0 && result.checkErrors === 0;
  if (clean) lines.push('No errors were found on the image.');
  else {
    if (result.corruptions > 0) {
      lines.push(
        '',
        `${result.corruptions} errors were found on the image.`,
        'Data may be corrupted, or further writes to the image may corrupt it.',
      );
    }
    if (result.leaks > 0) {
      lines.push(
        '',
        `${result.leaks} leaked clusters were found on the image.`,
        'This means waste of disk space, but no harm to data.',
      );
    }
    if (result.checkErrors > 0) {
      lines.push('', `${result.checkErrors} internal errors have occurred during the check.`);
    }
  }
  if (result.totalClusters !== 0 && result.allocatedClusters !== 0) {
    // Allocation is a share of the disk; fragmentation and compression a share of what is allocated.
    const share = (n: number, of: number) => ((n * 100) / of).toFixed(2);
    lines.push(
      `${result.allocatedClusters}/${result.totalClusters} = ${share(result.allocatedClusters, result.totalClusters)}% allocated, ` +
        `${share(result.fragmentedClusters, result.allocatedClusters)}% fragmented, ` +
        `${share(result.compressedClusters, result.allocatedClusters)}% compressed clusters`,
    );
  }
  if (result.imageEndOffset !== 0) lines.push(`Image end offset: ${result.imageEndOffset}`);
  return `${lines.join('\n')}\n`;
}
