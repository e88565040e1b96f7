import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../open.js';
import { makeTempDir, mustRun } from '../test-support/qemu.js';
import type { Qcow2Image, Qcow2Info } from './image.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-info-');
});
afterAll(() => tmp.cleanup());

/** Our info() in the shape of `qemu-img info --output=json`, for the keys qemu-img printed. */
function asQemuJson(info: Qcow2Info, theirs: Record<string, unknown>): Record<string, unknown> {
  const specific: Record<string, unknown> = {
    bitmaps: info.bitmaps,
    compat: info.compat,
    'compression-type': info.compressionType,
    'lazy-refcounts': info.lazyRefcounts,
    'refcount-bits': info.refcountBits,
    corrupt: info.corrupt,
    'extended-l2': info.extendedL2,
  };
  const theirData = ((theirs['format-specific'] as Record<string, unknown>).data ?? {}) as Record<
    string,
    unknown
  >;
  const ours: Record<string, unknown> = {
    'virtual-size': info.virtualSize,
    'cluster-size': info.clusterSize,
    format: info.format,
    'actual-size': info.actualSize,
    'dirty-flag': info.dirty,
    'format-specific': {
      type: 'qcow2',
      data: Object.fromEntries(Object.keys(theirData).map((k) => [k, specific[k]])),
    },
  };
  if (info.backingFilename !== null) ours['backing-filename'] = info.backingFilename;
  if (info.backingFormat !== null) ours['backing-filename-format'] = info.backingFormat;
  if (info.snapshots.length > 0) {
    ours.snapshots = info.snapshots.map((s) => ({
      icount: s.icount,
      'vm-clock-nsec': s.vmClockNs % 1e9,
      name: s.name,
      'date-sec': s.dateSeconds,
      'date-nsec': s.dateNanoseconds,
      'vm-clock-sec': Math.floor(s.vmClockNs / 1e9),
      id: s.id,
      'vm-state-size': s.vmStateSize,
    }));
  }
  return ours;
}

describe('Qcow2Image.info() reports what qemu-img info reports', () => {
  it.each([
    ['v3 defaults', ['-o', 'cluster_size=65536']],
    ['v2', ['-o', 'compat=0.10']],
    [
      'lazy refcounts, 8-bit refcounts, 4 KiB clusters',
      ['-o', 'lazy_refcounts=on,refcount_bits=8,cluster_size=4096'],
    ],
  ])('%s', async (name, options) => {
    const path = tmp.path(`${name.replace(/\W+/g, '-')}.qcow2`);
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', ...options, path, '3M']);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 100k', path]);
    await mustRun('qemu-img', ['snapshot', '-c', 'snap', path]);
    const theirs = JSON.parse(
      await mustRun('qemu-img', ['info', '-f', 'qcow2', '--output=json', path]),
    ) as Record<string, unknown>;
    const image = (await openImage(path, { format: 'qcow2', readOnly: true })) as Qcow2Image;
    try {
      const { filename: _f, ...rest } = theirs;
      expect(asQemuJson(await image.info(), theirs)).toEqual(rest);
    } finally {
      await image.close();
    }
  });

  it('lists persistent bitmaps like qemu-img info', async () => {
    const path = tmp.path('bitmaps.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', path, '1M']);
    await mustRun('qemu-img', ['bitmap', '--add', path, 'b1']);
    await mustRun('qemu-img', ['bitmap', '--add', '-g', '128k', '--disable', path, 'b2']);
    const theirs = JSON.parse(
      await mustRun('qemu-img', ['info', '-f', 'qcow2', '--output=json', path]),
    ) as Record<string, unknown>;
    const image = (await openImage(path, { format: 'qcow2', readOnly: true })) as Qcow2Image;
    try {
      const { filename: _f, ...rest } = theirs;
      expect(asQemuJson(await image.info(), theirs)).toEqual(rest);
    } finally {
      await image.close();
    }
  });

  it('reports the backing file and its format', async () => {
    const base = tmp.path('base.qcow2');
    const top = tmp.path('top.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', base, '1M']);
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top]);
    const theirs = JSON.parse(
      await mustRun('qemu-img', ['info', '-f', 'qcow2', '--output=json', top]),
    ) as Record<string, unknown>;
    const image = (await openImage(top, { format: 'qcow2', readOnly: true })) as Qcow2Image;
    try {
      const { filename: _f, 'full-backing-filename': _full, ...rest } = theirs;
      expect(asQemuJson(await image.info(), theirs)).toEqual(rest);
    } finally {
      await image.close();
    }
  });
});
