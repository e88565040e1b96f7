import { describe, expect, it } from 'vitest';
import { formatInfoHuman, formatInfoJson, type ImageInfoRecord } from './info.js';

// Expected texts are what qemu-img 7.2 printed for the same facts.
const qcow2Info: ImageInfoRecord = {
  filename: 'b.qcow2',
  format: 'qcow2',
  virtualSize: 67108864,
  actualSize: 200704,
  clusterSize: 65536,
  dirtyFlag: false,
  backingFilename: 'a.qcow2',
  fullBackingFilename: 'a.qcow2',
  backingFilenameFormat: 'qcow2',
  formatSpecific: {
    type: 'qcow2',
    data: {
      compat: '1.1',
      'compression-type': 'zlib',
      'lazy-refcounts': false,
      'refcount-bits': 16,
      corrupt: false,
      'extended-l2': false,
    },
  },
};

describe('info output', () => {
  it('prints JSON members in qemu-img order', () => {
    expect(formatInfoJson([qcow2Info], false)).toBe(`{
    "backing-filename-format": "qcow2",
    "virtual-size": 67108864,
    "filename": "b.qcow2",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "format-specific": {
        "type": "qcow2",
        "data": {
            "compat": "1.1",
            "compression-type": "zlib",
            "lazy-refcounts": false,
            "refcount-bits": 16,
            "corrupt": false,
            "extended-l2": false
        }
    },
    "full-backing-filename": "a.qcow2",
    "backing-filename": "a.qcow2",
    "dirty-flag": false
}
`);
  });

  it('prints the human form with format specific information', () => {
    expect(formatInfoHuman(qcow2Info)).toBe(`image: b.qcow2
file format: qcow2
virtual size: 64 MiB (67108864 bytes)
disk size: 196 KiB
cluster_size: 65536
backing file: a.qcow2
backing file format: qcow2
Format specific information:
    compat: 1.1
    compression type: zlib
    lazy refcounts: false
    refcount bits: 16
    corrupt: false
    extended l2: false
`);
  });

  it('dumps bitmaps as indexed lists, empty flag lists included', () => {
    const data = qcow2Info.formatSpecific?.data ?? {};
    const info: ImageInfoRecord = {
      filename: 'a.qcow2',
      format: 'qcow2',
      virtualSize: 67108864,
      actualSize: 352256,
      clusterSize: 65536,
      dirtyFlag: false,
      formatSpecific: {
        type: 'qcow2',
        data: {
          ...data,
          bitmaps: [
            { flags: ['auto'], name: 'bm0', granularity: 131072 },
            { flags: [], name: 'bm2', granularity: 65536 },
          ],
        },
      },
    };
    expect(formatInfoHuman(info)).toContain(`    lazy refcounts: false
    bitmaps:
        [0]:
            flags:
                [0]: auto
            name: bm0
            granularity: 131072
        [1]:
            flags:
            name: bm2
            granularity: 65536
    refcount bits: 16
`);
  });

  it('prints raw images without cluster size, showing an unknown disk size as unavailable', () => {
    const raw: ImageInfoRecord = {
      filename: 'r.raw',
      format: 'raw',
      virtualSize: 10485760,
      actualSize: -1,
      dirtyFlag: false,
    };
    expect(formatInfoHuman(raw)).toBe(
      'image: r.raw\nfile format: raw\nvirtual size: 10 MiB (10485760 bytes)\ndisk size: unavailable\n',
    );
    expect(formatInfoJson([raw], false)).toBe(
      '{\n    "virtual-size": 10485760,\n    "filename": "r.raw",\n    "format": "raw",\n    "dirty-flag": false\n}\n',
    );
  });

  it('prints an array for a backing chain and shows a resolved backing path', () => {
    const withPath = { ...qcow2Info, fullBackingFilename: '/images/a.qcow2' };
    expect(formatInfoHuman(withPath)).toContain('backing file: a.qcow2 (actual path: /images/a.qcow2)\n');
    expect(
      formatInfoJson([qcow2Info, qcow2Info], true).startsWith('[\n    {\n        "backing-filename-format"'),
    ).toBe(true);
  });
});
