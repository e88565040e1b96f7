import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, qemuImg, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { buildChain, create, ioWrite } from '../test-support/scenarios.js';

// Differential: every image here is written by qemu-img/qemu-io, then described by both
// qemu-img and strata-img; the outputs must be identical. actual-size is the host file's
// allocation, identical here because both read the same file.
let dir: string;
let remove: () => void;

beforeAll(() => {
  requirePeers();
  ({ dir, remove } = tempDir());
  buildChain(dir);
  create(dir, ['-f', 'qcow2', '-o', 'cluster_size=4k,compat=0.10', 'v2.qcow2', '3M']);
  ioWrite(dir, 'v2.qcow2', 'qcow2', ['write -P 1 4k 8k', 'write -P 2 1M 700k']);
  create(dir, ['-f', 'qcow2', '-o', 'lazy_refcounts=on,refcount_bits=8', 'lazy.qcow2', '5M']);
  create(dir, ['-f', 'qcow2', 'snap.qcow2', '8M']);
  ioWrite(dir, 'snap.qcow2', 'qcow2', ['write -P 1 0 1M']);
  must(qemuImg(['snapshot', '-c', 'first', 'snap.qcow2'], dir), 'snapshot');
  ioWrite(dir, 'snap.qcow2', 'qcow2', ['write -P 2 512k 1M']);
  must(qemuImg(['snapshot', '-c', 'second', 'snap.qcow2'], dir), 'snapshot');
  must(qemuImg(['bitmap', '-f', 'qcow2', '--add', '-g', '128k', 'snap.qcow2', 'b1'], dir), 'bitmap');
  must(qemuImg(['bitmap', '-f', 'qcow2', '--add', '--disable', 'snap.qcow2', 'b2'], dir), 'bitmap');
  create(dir, ['-f', 'raw', 'full.raw', '1M']);
  ioWrite(dir, 'full.raw', 'raw', ['write -P 3 0 1M']);
  must(qemuImg(['convert', '-c', '-O', 'qcow2', 'top.qcow2', 'compressed.qcow2'], dir), 'convert -c');
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

describe('info matches qemu-img', () => {
  for (const image of images) {
    it(`${image}: JSON and human output`, () => {
      for (const args of [['--output=json'], [], ['--backing-chain', '--output=json'], ['--backing-chain']]) {
        const ours = strataImg(['info', ...args, image], dir);
        const theirs = qemuImg(['info', ...args, image], dir);
        expect(ours.stderr).toBe(theirs.stderr);
        expect(ours.status).toBe(theirs.status);
        expect(ours.stdout).toBe(theirs.stdout);
      }
    });
  }

  it('parses JSON into the same objects, field by field', () => {
    const ours = JSON.parse(strataImg(['info', '--output=json', '-f', 'qcow2', 'snap.qcow2'], dir).stdout);
    const theirs = JSON.parse(qemuImg(['info', '--output=json', '-f', 'qcow2', 'snap.qcow2'], dir).stdout);
    expect(Object.keys(ours)).toEqual(Object.keys(theirs));
    expect(ours).toEqual(theirs);
  });
});

describe('map matches qemu-img', () => {
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
    it(`${image}: JSON and human output`, () => {
      for (const args of [
        ['--output=json'],
        [],
        ['--output=json', '--start-offset=1M', '--max-length=9000000'],
      ]) {
        const ours = strataImg(['map', ...args, image], dir);
        const theirs = qemuImg(['map', ...args, image], dir);
        expect(ours.stdout).toBe(theirs.stdout);
        expect(ours.status).toBe(theirs.status);
      }
    });
  }
});

describe('check matches qemu-img', () => {
  for (const image of images) {
    it(`${image}: output and exit status`, () => {
      for (const args of [['--output=json'], []]) {
        const ours = strataImg(['check', ...args, image], dir);
        const theirs = qemuImg(['check', ...args, image], dir);
        expect(ours.stdout).toBe(theirs.stdout);
        expect(ours.status).toBe(theirs.status);
      }
    });
  }
});

describe('usage errors match qemu-img', () => {
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
    it(`'${args.join(' ')}'`, () => {
      const ours = strataImg(args, dir);
      const theirs = qemuImg(args, dir);
      expect(ours.status).toBe(theirs.status);
      expect(ours.stderr.replaceAll('strata-img', 'qemu-img')).toBe(theirs.stderr);
    });
  }
});
