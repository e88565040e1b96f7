import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatSnapshotTable } from './snapshot-table.js';

describe('formatSnapshotTable', () => {
  let savedTz: string | undefined;
  beforeEach(() => {
    savedTz = process.env.TZ;
    process.env.TZ = 'UTC';
  });
  afterEach(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  it('lays out columns as qemu-img snapshot -l', () => {
    const text = formatSnapshotTable([
      {
        id: '1',
        name: 'snap1',
        'vm-state-size': 0,
        'date-sec': 1795450220,
        'date-nsec': 750373000,
        'vm-clock-sec': 0,
        'vm-clock-nsec': 0,
        icount: 0,
      },
      {
        id: '12',
        name: 'later',
        'vm-state-size': 1048576,
        'date-sec': 1795450230,
        'date-nsec': 0,
        'vm-clock-sec': 3725,
        'vm-clock-nsec': 5000000,
      },
    ]);
    expect(text).toBe(
      'ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\n' +
        '1         snap1                 0 B 2026-11-23 16:10:20 00:00:00.000          0\n' +
        '12        later               1 MiB 2026-11-23 16:10:30 01:02:05.005           \n',
    );
  });
});
