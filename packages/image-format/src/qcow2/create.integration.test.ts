import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, mustRun } from '../test-support/qemu.js';
import { type CreateQcow2Options, createQcow2 } from './create.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  tmp = await makeTempDir('strata-create-');
  await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', tmp.path('base.qcow2'), '10M']);
});
afterAll(() => tmp.cleanup());

/** Each case: our options and the same request to qemu-img create. */
const cases: Array<[string, CreateQcow2Options, string[]]> = [
  ['defaults, 1 GiB', { size: 1 << 30 }, ['1G']],
  [
    '512-byte clusters (L1 needs more refcount blocks)',
    { size: 1 << 30, clusterSize: 512 },
    ['-o', 'cluster_size=512', '1G'],
  ],
  [
    '4 KiB clusters: no feature table',
    { size: 100 << 20, clusterSize: 4096 },
    ['-o', 'cluster_size=4096', '100M'],
  ],
  [
    '2 MiB clusters, 64-bit refcounts',
    { size: 1 << 20, clusterSize: 2 << 20, refcountBits: 64 },
    ['-o', 'cluster_size=2M,refcount_bits=64', '1M'],
  ],
  [
    '1-bit refcounts, lazy refcounts',
    { size: 100 << 20, clusterSize: 4096, refcountBits: 1, lazyRefcounts: true },
    ['-o', 'cluster_size=4096,refcount_bits=1,lazy_refcounts=on', '100M'],
  ],
  ['compat 0.10', { size: 1 << 30, compat: '0.10' }, ['-o', 'compat=0.10', '1G']],
  ['unaligned size rounded to 512', { size: 1000001 }, ['1000001']],
  [
    'backing file and format, size from backing',
    { backingFile: 'base.qcow2', backingFormat: 'qcow2' },
    ['-b', 'base.qcow2', '-F', 'qcow2'],
  ],
  [
    'compat 0.10 with backing',
    { backingFile: 'base.qcow2', backingFormat: 'qcow2', compat: '0.10', size: 20 << 20 },
    ['-b', 'base.qcow2', '-F', 'qcow2', '-o', 'compat=0.10', '20M'],
  ],
  ['zstd compression', { size: 1 << 30, compressionType: 'zstd' }, ['-o', 'compression_type=zstd', '1G']],
  [
    'preallocation=metadata',
    { size: 10 << 20, preallocation: 'metadata' },
    ['-o', 'preallocation=metadata', '10M'],
  ],
  [
    'preallocation=metadata, 4 KiB clusters, partial last cluster',
    { size: (3 << 20) + 512, clusterSize: 4096, preallocation: 'metadata' },
    ['-o', 'preallocation=metadata,cluster_size=4096', String((3 << 20) + 512)],
  ],
];

describe('createQcow2 against qemu-img create', () => {
  it.each(cases)('%s: byte-identical', async (name, options, qemuArgs) => {
    const ours = tmp.path(`${name.replace(/\W+/g, '-')}.strata.qcow2`);
    const theirs = tmp.path(`${name.replace(/\W+/g, '-')}.qemu.qcow2`);
    await createQcow2(ours, options);
    const sizeArg = qemuArgs[qemuArgs.length - 1] as string;
    const hasSize = /^\d+[GM]?$/.test(sizeArg);
    const args = hasSize ? qemuArgs.slice(0, -1) : qemuArgs;
    await mustRun('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      ...args,
      theirs,
      ...(hasSize ? [sizeArg] : []),
    ]);
    const [a, b] = [await readFile(ours), await readFile(theirs)];
    expect(a.length).toBe(b.length);
    expect(a.equals(b)).toBe(true);
  });
});
