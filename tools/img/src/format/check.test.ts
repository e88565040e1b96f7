import { describe, expect, it } from 'vitest';
import type { CheckReport } from '../engine/types.js';
import { checkExitCode, formatCheckHuman, formatCheckJson, formatRepairedHuman } from './check.js';

const clean: CheckReport = {
  corruptions: 0,
  leaks: 0,
  checkErrors: 0,
  corruptionsFixed: 0,
  leaksFixed: 0,
  imageEndOffset: 393216,
  totalClusters: 1024,
  allocatedClusters: 1,
  fragmentedClusters: 0,
  compressedClusters: 0,
  messages: [],
};

describe('check output', () => {
  it('matches qemu-img for a clean image', () => {
    expect(formatCheckHuman(clean)).toBe(
      'No errors were found on the image.\n1/1024 = 0.10% allocated, 0.00% fragmented, 0.00% compressed clusters\nImage end offset: 393216\n',
    );
    expect(formatCheckJson('a.qcow2', 'qcow2', clean)).toBe(`{
    "image-end-offset": 393216,
    "total-clusters": 1024,
    "check-errors": 0,
    "allocated-clusters": 1,
    "filename": "a.qcow2",
    "format": "qcow2"
}
`);
    expect(checkExitCode(clean)).toBe(0);
  });

  it('reports leaks and corruptions and chooses the exit status as qemu-img', () => {
    const leaky = { ...clean, leaks: 4 };
    expect(formatCheckHuman(leaky)).toContain(
      '\n4 leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n',
    );
    expect(checkExitCode(leaky)).toBe(3);
    const corrupt = { ...leaky, corruptions: 2 };
    expect(formatCheckHuman(corrupt)).toContain(
      '\n2 errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n',
    );
    expect(checkExitCode(corrupt)).toBe(2);
    expect(checkExitCode({ ...corrupt, checkErrors: 1 })).toBe(1);
    expect(formatCheckJson('x', 'qcow2', corrupt)).toContain('"leaks": 4');
  });

  it('prints the repair summary like qemu-img', () => {
    expect(formatRepairedHuman(4, 2)).toBe(
      'The following inconsistencies were found and repaired:\n\n    4 leaked clusters\n    2 corruptions\n\nDouble checking the fixed image now...\n',
    );
  });
});
