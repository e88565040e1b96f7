import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHash, must, qemuImg, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { create, ioWrite } from '../test-support/scenarios.js';

// Damaged-but-repairable images checked (and repaired) by both tools: same report, same
// messages, same exit status (0 clean, 2 corruptions, 3 leaks only).
let dir: string;
let remove: () => void;

const CLUSTER = 65536;

/** Sets the 16-bit refcount of host cluster `index` in the first refcount block. */
function setRefcount(bytes: Uint8Array, index: number, value: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const table = Number(view.getBigUint64(48));
  const block = Number(view.getBigUint64(table));
  view.setUint16(block + 2 * index, value);
}

beforeAll(async () => {
  requirePeers();
  ({ dir, remove } = tempDir());
  await create(dir, ['-f', 'qcow2', 'good.qcow2', '16M']);
  await ioWrite(dir, 'good.qcow2', 'qcow2', ['write -P 1 0 256k', 'write -P 2 8M 64k']);
  const good = new Uint8Array(readFileSync(join(dir, 'good.qcow2')));
  // A leak: one more cluster at the end of the file with a refcount but no reference.
  const leaked = new Uint8Array(good.length + CLUSTER);
  leaked.set(good);
  setRefcount(leaked, good.length / CLUSTER, 1);
  writeFileSync(join(dir, 'leaked.qcow2'), leaked);
  // A corruption: a data cluster in use whose refcount says free.
  const map = JSON.parse(
    (await must(qemuImg(['map', '--output=json', 'good.qcow2'], dir), 'map')).stdout,
  ) as Array<{
    offset?: number;
  }>;
  const corrupt = Uint8Array.from(good);
  setRefcount(corrupt, (map[0]?.offset ?? 0) / CLUSTER, 0);
  writeFileSync(join(dir, 'corrupt.qcow2'), corrupt);
});

afterAll(() => remove?.());

describe('check matches qemu-img on damaged images', () => {
  for (const image of ['good.qcow2', 'leaked.qcow2', 'corrupt.qcow2']) {
    it(`${image}: report and exit status`, async () => {
      for (const args of [[], ['--output=json']]) {
        const ours = await strataImg(['check', ...args, image], dir);
        const theirs = await qemuImg(['check', ...args, image], dir);
        expect(ours.stdout).toBe(theirs.stdout);
        expect(ours.stderr.replaceAll('strata-img', 'qemu-img')).toBe(theirs.stderr);
        expect(ours.status).toBe(theirs.status);
      }
    });
  }

  it('the damage is what the exit codes say', async () => {
    expect((await qemuImg(['check', 'leaked.qcow2'], dir)).status).toBe(3);
    expect((await qemuImg(['check', 'corrupt.qcow2'], dir)).status).toBe(2);
  });

  for (const [image, mode] of [
    ['leaked.qcow2', 'leaks'],
    ['leaked.qcow2', 'all'],
    ['corrupt.qcow2', 'leaks'],
    ['corrupt.qcow2', 'all'],
  ] as const) {
    it(`${image} -r ${mode}: same repair report and status, then a clean image`, async () => {
      for (const output of [[], ['--output=json']]) {
        const ours = `ours-${mode}-${output.length}-${image}`;
        const theirs = `theirs-${mode}-${output.length}-${image}`;
        copyFileSync(join(dir, image), join(dir, ours));
        copyFileSync(join(dir, image), join(dir, theirs));
        const a = await strataImg(['check', '-f', 'qcow2', '-r', mode, ...output, ours], dir);
        const b = await qemuImg(['check', '-f', 'qcow2', '-r', mode, ...output, theirs], dir);
        expect(a.stdout.replaceAll(ours, theirs)).toBe(b.stdout);
        expect(a.stderr.replaceAll('strata-img', 'qemu-img')).toBe(b.stderr);
        expect(a.status).toBe(b.status);
        const after = await qemuImg(['check', ours], dir);
        expect(after.status).toBe((await qemuImg(['check', theirs], dir)).status);
      }
    });
  }

  it('repair requires -f and changes nothing without it', async () => {
    const before = fileHash(join(dir, 'leaked.qcow2'));
    const result = await strataImg(['check', '-r', 'leaks', 'leaked.qcow2'], dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^strata-img: Could not open 'leaked.qcow2': the image format must be given with -f/,
    );
    expect(fileHash(join(dir, 'leaked.qcow2'))).toBe(before);
  });
});
