import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createQcow2, openImage } from '@strata/image-format';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BLOCK, blockPattern } from './guest-writer.js';
import { verifyChain } from './verify.js';

let dir: string;
let top: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-verify-'));
  const base = join(dir, 'base.qcow2');
  top = join(dir, 'top.qcow2');
  await createQcow2(base, { size: 8 * BLOCK });
  const baseImage = await openImage(base, { format: 'qcow2' });
  await baseImage.write(blockPattern(1, 2), 2 * BLOCK);
  await baseImage.close();
  await createQcow2(top, { backingFile: 'base.qcow2', backingFormat: 'qcow2' });
  const topImage = await openImage(top, { format: 'qcow2' });
  await topImage.write(blockPattern(7, 5), 5 * BLOCK);
  await topImage.close();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('accepts a chain that holds exactly the model, through the backing file', async () => {
  expect(
    await verifyChain(
      top,
      8,
      new Map([
        [2, 1],
        [5, 7],
      ]),
    ),
  ).toEqual([]);
});

it('reports a stale write, a missing write and an unexpected write', async () => {
  // Block 5 holds write 7, not 8; block 3 was never written; block 2 holds data the model lacks.
  expect(
    await verifyChain(
      top,
      8,
      new Map([
        [3, 4],
        [5, 8],
      ]),
    ),
  ).toEqual([2, 3, 5]);
});
