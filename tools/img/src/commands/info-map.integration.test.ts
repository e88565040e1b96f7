import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, qemuImg, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { buildChain, create, ioWrite } from '../test-support/scenarios.js';

// Differential: every image here is written by qemu-img/qemu-io, then described by both
// qemu-img and strata-img; the outputs must be identical. actual-size is the host file's
// allocation, identical here because both read the same file.
let dir: string;
let remove: () => void;

beforeAll(async () => {
  requirePeers();
  ({ dir, remove } = tempDir());
  await buildChain(dir);
  await create(dir, ['-f', 'qcow2', '-o', 'cluster_size=4k,compat=0.10', 'v2.qcow2', '3M']);
  await ioWrite(dir, 'v2.qcow2', 'qcow2', ['write -P 1 4k 8k', 'write -P 2 1M 700k']);
  await create(dir, ['-f', 'qcow2', '-o', 'lazy_refcounts=on,refcount_bits=8', 'lazy.qcow2', '5M']);
  await create(dir, ['-f', 'qcow2', 'snap.qcow2', '8M']);
  await ioWrite(dir, 'snap.qcow2', 'qcow2', ['write -P 1 0 1M']);
  await must(qemuImg(['snapshot', '-c', 'first', 'snap.qcow2'], dir), 'snapshot');
  await ioWrite(dir, 'snap.qcow2', 'qcow2', ['write -P 2 512k 1M']);
  await must(qemuImg(['snapshot', '-c', 'second', 'snap.qcow2'], dir), 'snapshot');
  await must(qemuImg(['bitmap', '-f', 'qcow2', '--add', '-g', '128k', 'snap.qcow2', 'b1'], dir), 'bitmap');
  await must(qemuImg(['bitmap', '-f', 'qcow2', '--add', '--disable', 'snap.qcow2', 'b2'], dir), 'bitmap');
  await create(dir, ['-f', 'raw', 'full.raw', '1M']);
  await ioWrite(dir, 'full.raw', 'raw', ['write -P 3 0 1M']);
  await must(qemuImg(['convert', '-c', '-O', 'qcow2', 'top.qcow2', 'compressed.qcow2'], dir), 'convert -c');
});

afterAll(() => remove?.());

const images = [
  'base.qcow2',
  'mid.qcow2',
  'top.qcow2',
  'v2.qcow2',
  'lazy.qcow2',
  'snap.qcow2',
  'full.raw',
  'compressed.qcow2',
];

describe('info matches qemu-img', async () => {
  for (const image of images) {
    it(`${image}: JSON and human output`, async () => {
      // The backing-chain forms only differ for images with a backing file.
      const chain = image === 'top.qcow2' || image === 'mid.qcow2';
      const variants = chain
        ? [['--output=json'], [], ['--backing-chain', '--output=json'], ['--backing-chain']]
        : [['--output=json'], []];
      for (const args of variants) {
        const ours = await strataImg(['info', ...args, image], dir);
        const theirs = await qemuImg(['info', ...args, image], dir);
        expect(ours.stderr).toBe(theirs.stderr);
        expect(ours.status).toBe(theirs.status);
        expect(ours.stdout).toBe(theirs.stdout);
      }
    });
  }

  it('parses JSON into the same objects, field by field', async () => {
    const ours = JSON.parse(
      (await strataImg(['info', '--output=json', '-f', 'qcow2', 'snap.qcow2'], dir)).stdout,
    );
    const theirs = JSON.parse(
      (await qemuImg(['info', '--output=json', '-f', 'qcow2', 'snap.qcow2'], dir)).stdout,
    );
    expect(Object.keys(ours)).toEqual(Object.keys(theirs));
    expect(ours).toEqual(theirs);
  });
});

describe('map matches qemu-img', async () => {
  // Sparse raw files are left out: Node cannot ask for holes (no SEEK_DATA), so strata reports
  // a raw file as data throughout where qemu-img reports holes as zeroes.
  for (const image of [
    'base.qcow2',
    'mid.qcow2',
    'top.qcow2',
    'v2.qcow2',
    'snap.qcow2',
    'full.raw',
    'compressed.qcow2',
  ]) {
    it(`${image}: JSON and human output`, async () => {
      for (const args of [
        ['--output=json'],
        [],
        ['--output=json', '--start-offset=1M', '--max-length=9000000'],
      ]) {
        const ours = await strataImg(['map', ...args, image], dir);
        const theirs = await qemuImg(['map', ...args, image], dir);
        expect(ours.stdout).toBe(theirs.stdout);
        expect(ours.status).toBe(theirs.status);
      }
    });
  }
});

describe('check matches qemu-img', async () => {
  for (const image of images) {
    it(`${image}: output and exit status`, async () => {
      for (const args of [['--output=json'], []]) {
        const ours = await strataImg(['check', ...args, image], dir);
        const theirs = await qemuImg(['check', ...args, image], dir);
        expect(ours.stdout).toBe(theirs.stdout);
        expect(ours.status).toBe(theirs.status);
      }
    });
  }
});

describe('usage errors match qemu-img', async () => {
  const cases: string[][] = [
    ['info'],
    ['info', '--foo', 'top.qcow2'],
    ['info', '-f'],
    ['info', '--output=xml', 'top.qcow2'],
    ['info', 'missing.qcow2'],
    ['info', '-f', 'qcow2', 'full.raw'],
    ['frob'],
    [],
    ['check', '-r', 'foo', 'top.qcow2'],
    ['compare', 'top.qcow2'],
    ['create', '-f', 'qcow2', 'x.qcow2', '1Q'],
    ['create', '-f', 'qcow2', 'x.qcow2'],
    ['measure'],
    ['snapshot', '-l', '-c', 'x', 'top.qcow2'],
  ];
  for (const args of cases) {
    it(`'${args.join(' ')}'`, async () => {
      const ours = await strataImg(args, dir);
      const theirs = await qemuImg(args, dir);
      expect(ours.status).toBe(theirs.status);
      expect(ours.stderr.replaceAll('strata-img', 'qemu-img')).toBe(theirs.stderr);
    });
  }
});
