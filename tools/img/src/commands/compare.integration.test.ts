import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, qemuImg, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { create, ioWrite } from '../test-support/scenarios.js';

// Same pairs of images through qemu-img compare and strata-img compare: same message, same
// exit status (0 identical, 1 different, 2 error).
let dir: string;
let remove: () => void;

beforeAll(() => {
  requirePeers();
  ({ dir, remove } = tempDir());
  create(dir, ['-f', 'qcow2', 'a.qcow2', '64M']);
  ioWrite(dir, 'a.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -z 2M 64k', 'write -P 2 5M 3000']);
  must(qemuImg(['convert', '-O', 'raw', 'a.qcow2', 'a.raw'], dir), 'convert');
  must(qemuImg(['convert', '-O', 'qcow2', 'a.qcow2', 'a-copy.qcow2'], dir), 'convert');
  create(dir, ['-f', 'qcow2', 'short.qcow2', '32M']);
  ioWrite(dir, 'short.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000']);
  create(dir, ['-f', 'qcow2', 'long.qcow2', '96M']);
  ioWrite(dir, 'long.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000', 'write -P 3 70M 512']);
  create(dir, ['-f', 'qcow2', 'long-zero.qcow2', '96M']);
  ioWrite(dir, 'long-zero.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000', 'write -z 70M 1M']);
  create(dir, ['-f', 'qcow2', 'b.qcow2', '64M']);
  ioWrite(dir, 'b.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000', 'write -P 9 40M 10']);
  create(dir, ['-f', 'qcow2', 'c.qcow2', '64M']);
  ioWrite(dir, 'c.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000', 'write -P 9 700k 513']);
});

afterAll(() => remove?.());

const cases: string[][] = [
  ['a.qcow2', 'a.qcow2'],
  ['a.qcow2', 'a.raw'],
  ['a.qcow2', 'a-copy.qcow2'],
  ['-s', 'a.qcow2', 'a-copy.qcow2'],
  ['-s', 'a.qcow2', 'a.raw'],
  ['a.qcow2', 'b.qcow2'],
  ['b.qcow2', 'a.qcow2'],
  ['a.qcow2', 'c.qcow2'],
  ['a.qcow2', 'short.qcow2'],
  ['-s', 'a.qcow2', 'short.qcow2'],
  ['a.qcow2', 'long.qcow2'],
  ['long-zero.qcow2', 'a.qcow2'],
  ['-f', 'qcow2', '-F', 'raw', 'a.qcow2', 'a.raw'],
  ['-q', 'a.qcow2', 'b.qcow2'],
  ['a.qcow2', 'missing.qcow2'],
  ['-f', 'bogus', 'a.qcow2', 'a.qcow2'],
  ['a.qcow2'],
];

describe('compare matches qemu-img', () => {
  for (const args of cases) {
    it(`compare ${args.join(' ')}`, () => {
      const ours = strataImg(['compare', ...args], dir);
      const theirs = qemuImg(['compare', ...args], dir);
      expect(ours.stdout).toBe(theirs.stdout);
      expect(ours.stderr.replaceAll('strata-img', 'qemu-img')).toBe(theirs.stderr);
      expect(ours.status).toBe(theirs.status);
    });
  }

  it('prints progress with -p', () => {
    const ours = strataImg(['compare', '-p', 'a.qcow2', 'a.raw'], dir);
    expect(ours.stdout.startsWith('    (0.00/100%)\r')).toBe(true);
    expect(ours.stdout.endsWith('    (100.00/100%)\rImages are identical.\n\n')).toBe(true);
    expect(
      qemuImg(['compare', '-p', 'a.qcow2', 'a.raw'], dir).stdout.endsWith('Images are identical.\n\n'),
    ).toBe(true);
  });
});
