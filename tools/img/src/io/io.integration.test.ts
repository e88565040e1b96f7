import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHash, qemuIo, requirePeers, strataIo, tempDir, withoutTiming } from '../test-support/peers.js';
import { create } from '../test-support/scenarios.js';

// The same qemu-io command lines run by qemu-io and strata-io on twin images: identical output
// except the timing numbers, identical exit status, and byte-identical images afterwards.
let root: string;
let remove: () => void;
let counter = 0;

beforeAll(async () => {
  requirePeers();
  ({ dir: root, remove } = tempDir());
});

afterAll(() => remove?.());

async function twin(format: string, size: string): Promise<{ ours: string; theirs: string }> {
  counter++;
  const ours = join(root, `ours-${counter}`);
  const theirs = join(root, `theirs-${counter}`);
  for (const dir of [ours, theirs]) {
    mkdirSync(dir);
    await create(dir, ['-f', format, 'disk', size]);
  }
  return { ours, theirs };
}

const scripts: Array<{ name: string; format: string; commands: string[] }> = [
  {
    name: 'writes, pattern reads and a map on qcow2',
    format: 'qcow2',
    commands: [
      'write -P 0xab 0 4k',
      'write -z 1M 64k',
      'read -P 0xab 0 4k',
      'read -P 0xac 0 4k',
      'write -P 7 1536 1000',
      'read -v 1530 40',
      'discard 64k 64k',
      'flush',
      'map',
    ],
  },
  {
    name: 'raw reads and writes with units',
    format: 'raw',
    commands: [
      'write -P 1 0 1.5k',
      'read -P 1 0 1.5k',
      'read -q 0 512',
      'write -q -P 2 4k 4k',
      'read -P 2 4k 4k',
      'flush',
    ],
  },
  {
    name: 'errors keep going and fail the run',
    format: 'qcow2',
    commands: [
      'read 20M 4k',
      'write 0 20M',
      'read x 4',
      'write -P 300 0 1',
      'write -P abc 0 1',
      'write -P 1 -z 0 4',
      'write -u 0 1',
      'read 0 1 2',
      'read',
      'write -P 9 0 512',
    ],
  },
  { name: 'a clean run succeeds', format: 'qcow2', commands: ['write -P 5 100 200', 'read -P 5 100 200'] },
];

describe('strata-io matches qemu-io', async () => {
  for (const script of scripts) {
    it(script.name, async () => {
      const { ours, theirs } = await twin(script.format, '16M');
      const args = ['-f', script.format, ...script.commands.flatMap((c) => ['-c', c]), 'disk'];
      const a = await strataIo(args, ours);
      const b = await qemuIo(args, theirs);
      expect(withoutTiming(a.stdout)).toBe(withoutTiming(b.stdout));
      expect(a.stderr).toBe(b.stderr);
      expect(a.status).toBe(b.status);
      expect(fileHash(join(ours, 'disk'))).toBe(fileHash(join(theirs, 'disk')));
    });
  }

  it('reports unknown commands and bad argument counts on stderr', async () => {
    const { ours, theirs } = await twin('qcow2', '1M');
    const args = ['-f', 'qcow2', '-c', 'bogus', '-c', 'flush 1', '-c', 'read', 'disk'];
    const a = await strataIo(args, ours);
    const b = await qemuIo(args, theirs);
    expect(a.stderr).toBe(b.stderr);
    expect(a.stdout).toBe(b.stdout);
    expect(a.status).toBe(b.status);
  });

  it('fails to open like qemu-io', async () => {
    const { ours, theirs } = await twin('raw', '1M');
    for (const args of [
      ['-f', 'qcow2', '-c', 'read 0 1', 'disk'],
      ['-f', 'raw', '-c', 'read 0 1', 'missing'],
    ]) {
      const a = await strataIo(args, ours);
      const b = await qemuIo(args, theirs);
      expect(a.stderr.replaceAll('strata-io', 'qemu-io')).toBe(b.stderr);
      expect(a.status).toBe(b.status);
    }
  });

  it('requires -f to open an image for writing, and reads a guessed format read-only', async () => {
    const { ours } = await twin('qcow2', '1M');
    const before = fileHash(join(ours, 'disk'));
    const refused = await strataIo(['-c', 'write 0 512', 'disk'], ours);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^strata-io: can't open device disk: .*must be given with -f/);
    expect(fileHash(join(ours, 'disk'))).toBe(before);
    const read = await strataIo(['-r', '-c', 'read -P 0 0 512', 'disk'], ours);
    expect(read.status).toBe(0);
    expect(read.stdout).toMatch(/^read 512\/512 bytes at offset 0\n/);
  });
});
