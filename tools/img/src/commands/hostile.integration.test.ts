import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHash, qemuImg, requirePeers, strataImg, strataIo, tempDir } from '../test-support/peers.js';
import { create, ioWrite } from '../test-support/scenarios.js';

// Malformed images through the command line: every command must fail with one clear line on
// stderr (no stack trace), a non-zero status, and leave the file exactly as it was.
let dir: string;
let remove: () => void;

/** Rewrites bytes of a copy of `good.qcow2` at qcow2 header offsets. */
function patched(name: string, patch: (view: DataView) => void): string {
  const bytes = new Uint8Array(readFileSync(join(dir, 'good.qcow2')));
  patch(new DataView(bytes.buffer));
  writeFileSync(join(dir, name), bytes);
  return name;
}

/** Images whose header or tables are broken (qemu-img refuses them too). */
const hostile = [
  'truncated.qcow2',
  'huge-l1.qcow2',
  'cluster-bits.qcow2',
  'unknown-feature.qcow2',
  'backing-name-long.qcow2',
];
/** Broken in ways QEMU tolerates (it reads missing tables as zeroes); Strata refuses them. */
const strict = ['l1-past-end.qcow2', 'refcount-past-end.qcow2', 'snapshots-past-end.qcow2'];
/** Fine alone, broken as a chain. */
const chains = ['loop-a.qcow2'];

beforeAll(async () => {
  requirePeers();
  ({ dir, remove } = tempDir());
  await create(dir, ['-f', 'qcow2', 'good.qcow2', '8M']);
  await ioWrite(dir, 'good.qcow2', 'qcow2', ['write -P 1 0 1M']);
  copyFileSync(join(dir, 'good.qcow2'), join(dir, 'truncated.qcow2'));
  truncateSync(join(dir, 'truncated.qcow2'), 50);
  patched('huge-l1.qcow2', (v) => v.setUint32(36, 0xffffffff));
  patched('l1-past-end.qcow2', (v) => v.setBigUint64(40, 0x7ffffffff0000n));
  patched('cluster-bits.qcow2', (v) => v.setUint32(20, 40));
  patched('refcount-past-end.qcow2', (v) => v.setBigUint64(48, 0x100000000000n));
  patched('unknown-feature.qcow2', (v) => v.setBigUint64(72, 1n << 40n));
  patched('snapshots-past-end.qcow2', (v) => {
    v.setUint32(60, 3);
    v.setBigUint64(64, 0x7fff00000000n);
  });
  patched('backing-name-long.qcow2', (v) => {
    v.setBigUint64(8, 512n);
    v.setUint32(16, 0xfffffff0);
  });
  // Two overlays naming each other as backing file.
  await create(dir, ['-f', 'qcow2', '-u', '-b', 'loop-b.qcow2', '-F', 'qcow2', 'loop-a.qcow2', '8M']);
  await create(dir, ['-f', 'qcow2', '-u', '-b', 'loop-a.qcow2', '-F', 'qcow2', 'loop-b.qcow2', '8M']);
});

afterAll(() => remove?.());

function expectCleanFailure(result: { status: number; stderr: string }, tool = 'strata-img'): void {
  expect(result.status).not.toBe(0);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines[0]?.startsWith(`${tool}: `)).toBe(true);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toMatch(/Error:|TypeError|RangeError/);
}

describe('hostile images', async () => {
  for (const name of hostile) {
    it(`${name} is refused by qemu-img too (the corpus is really broken)`, async () => {
      const result = await qemuImg(
        ['convert', '-f', 'qcow2', '-O', 'raw', name, join(dir, 'qemu-out.raw')],
        dir,
      );
      expect(result.status).not.toBe(0);
    });
  }

  const readers: Array<(name: string) => string[]> = [
    (name) => ['info', '--backing-chain', '--output=json', name],
    (name) => ['map', '-f', 'qcow2', '--output=json', name],
    (name) => ['convert', '-f', 'qcow2', '-O', 'raw', name, 'out.raw'],
  ];
  const writers: Array<(name: string) => string[]> = [
    (name) => ['commit', '-f', 'qcow2', name],
    (name) => ['resize', '-f', 'qcow2', name, '16M'],
    (name) => ['bitmap', '-f', 'qcow2', '--add', name, 'b'],
  ];

  async function failsUnchanged(name: string, commands: Array<(name: string) => string[]>): Promise<void> {
    for (const args of commands) {
      const before = fileHash(join(dir, name));
      const result = await strataImg(args(name), dir);
      if (result.status === 0) throw new Error(`${args(name).join(' ')} succeeded`);
      expectCleanFailure(result);
      expect(fileHash(join(dir, name)), args(name).join(' ')).toBe(before);
    }
  }

  for (const name of [...hostile, ...strict, ...chains]) {
    it(`${name}: read-only commands fail with one line and change nothing`, async () =>
      await failsUnchanged(name, readers));
  }

  for (const name of [...hostile, ...strict]) {
    it(`${name}: writing commands fail with one line and change nothing`, async () =>
      await failsUnchanged(name, writers));
  }

  for (const name of chains) {
    it(`${name}: compare and commit refuse the looping chain`, async () =>
      await failsUnchanged(name, [
        (n) => ['compare', '-f', 'qcow2', n, 'good.qcow2'],
        (n) => ['commit', '-f', 'qcow2', n],
      ]));
  }

  for (const name of [...hostile, ...strict]) {
    it(`${name}: check reports without crashing, strata-io refuses`, async () => {
      const before = fileHash(join(dir, name));
      const checked = await strataImg(['check', '-f', 'qcow2', name], dir);
      expect(checked.stderr).not.toMatch(/^\s+at /m);
      expect(checked.status).not.toBe(0);
      const io = await strataIo(['-f', 'qcow2', '-c', 'read 0 64k', '-c', 'write 0 512', name], dir);
      expect(io.status).not.toBe(0);
      expect(io.stderr + io.stdout).not.toMatch(/^\s+at /m);
      expect(fileHash(join(dir, name))).toBe(before);
    });
  }
});
