import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, qemuImg, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { create, ioWrite } from '../test-support/scenarios.js';

// Same pairs of images through qemu-img compare and strata-img compare: same message, same
// exit status (0 identical, 1 different, 2 error).
let dir: string;
let remove: () => void;

beforeAll(async () => {
  requirePeers();
  ({ dir, remove } = tempDir());
  await create(dir, ['-f', 'qcow2', 'a.qcow2', '64M']);
  await ioWrite(dir, 'a.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -z 2M 64k', 'write -P 2 5M 3000']);
  await must(qemuImg(['convert', '-O', 'raw', 'a.qcow2', 'a.raw'], dir), 'convert');
  await must(qemuImg(['convert', '-O', 'qcow2', 'a.qcow2', 'a-copy.qcow2'], dir), 'convert');
  await create(dir, ['-f', 'qcow2', 'short.qcow2', '32M']);
  await ioWrite(dir, 'short.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000']);
  await create(dir, ['-f', 'qcow2', 'long.qcow2', '96M']);
  await ioWrite(dir, 'long.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000', 'write -P 3 70M 512']);
  await create(dir, ['-f', 'qcow2', 'long-zero.qcow2', '96M']);
  await ioWrite(dir, 'long-zero.qcow2', 'qcow2', [
    'write -P 1 0 1M',
    'write -P 2 5M 3000',
    'write -z 70M 1M',
  ]);
  await create(dir, ['-f', 'qcow2', 'b.qcow2', '64M']);
  await ioWrite(dir, 'b.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000', 'write -P 9 40M 10']);
  await create(dir, ['-f', 'qcow2', 'c.qcow2', '64M']);
  await ioWrite(dir, 'c.qcow2', 'qcow2', ['write -P 1 0 1M', 'write -P 2 5M 3000', 'write -P 9 700k 513']);
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

describe('compare matches qemu-img', async () => {
  for (const args of cases) {
    it(`compare ${args.join(' ')}`, async () => {
      const ours = await strataImg(['compare', ...args], dir);
      const theirs = await qemuImg(['compare', ...args], dir);
      expect(ours.stdout).toBe(theirs.stdout);
      expect(ours.stderr.replaceAll('strata-img', 'qemu-img')).toBe(theirs.stderr);
      expect(ours.status).toBe(theirs.status);
    });
  }

  it('prints progress with -p', async () => {
    const ours = await strataImg(['compare', '-p', 'a.qcow2', 'a.raw'], dir);
    expect(ours.stdout.startsWith('    (0.00/100%)\r')).toBe(true);
    expect(ours.stdout.endsWith('    (100.00/100%)\rImages are identical.\n\n')).toBe(true);
    expect(
      (await qemuImg(['compare', '-p', 'a.qcow2', 'a.raw'], dir)).stdout.endsWith(
        'Images are identical.\n\n',
      ),
    ).toBe(true);
  });
});
