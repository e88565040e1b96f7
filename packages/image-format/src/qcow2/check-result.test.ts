import { describe, expect, it } from 'vitest';
import { type CheckResult, checkExitCode, formatCheckReport, toImageCheckJson } from './check-result.js';

const base: CheckResult = {
  filename: 'disk.qcow2',
  format: 'qcow2',
  checkErrors: 0,
  corruptions: 0,
  leaks: 0,
  corruptionsFixed: 0,
  leaksFixed: 0,
  imageEndOffset: 262144,
  totalClusters: 16384,
  allocatedClusters: 3,
  fragmentedClusters: 1,
  compressedClusters: 0,
  messages: [],
};

describe('check results in qemu-img form', () => {
  it('leaves zero counters out of the JSON, as qemu-img does', () => {
    expect(toImageCheckJson(base)).toEqual({
      filename: 'disk.qcow2',
      format: 'qcow2',
      'check-errors': 0,
      'image-end-offset': 262144,
      'total-clusters': 16384,
      'allocated-clusters': 3,
      'fragmented-clusters': 1,
    });
    expect(toImageCheckJson({ ...base, leaks: 2, leaksFixed: 1 })).toMatchObject({
      leaks: 2,
      'leaks-fixed': 1,
    });
  });

  it('maps results to qemu-img check exit codes', () => {
    expect(checkExitCode(base)).toBe(0);
    expect(checkExitCode({ ...base, leaks: 1 })).toBe(3);
    expect(checkExitCode({ ...base, leaks: 1, corruptions: 1 })).toBe(2);
    expect(checkExitCode({ ...base, corruptions: 1, checkErrors: 1 })).toBe(1);
    expect(checkExitCode({ ...base, failure: 'Input/output error' })).toBe(1);
  });

  it('prints the human report with allocation shares of the disk and of what is allocated', () => {
    expect(formatCheckReport(base)).toBe(
      'No errors were found on the image.\n3/16384 = 0.02% allocated, 33.33% fragmented, 0.00% compressed clusters\nImage end offset: 262144\n',
    );
    expect(formatCheckReport({ ...base, corruptions: 2, leaks: 1 })).toBe(
      '\n2 errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n' +
        '\n1 leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n' +
        '3/16384 = 0.02% allocated, 33.33% fragmented, 0.00% compressed clusters\nImage end offset: 262144\n',
    );
  });
});
