import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const DEMO = fileURLToPath(new URL('../../dist/demo/live-migration.js', import.meta.url));

// Needs no peer: the demo uses only Strata (the built daemon, its NBD client, image-format).
it('the live migration demo runs end to end and verifies every acknowledged write on the destination', async () => {
  const { stdout } = await run(process.execPath, [DEMO], { timeout: 120_000 });
  // Not a terminal: plain lines, no redraw sequences.
  expect(stdout).not.toContain('\x1b[');
  expect(stdout).toMatch(/mirror snap\.qcow2: .* ready/);
  expect(stdout).toMatch(/copy older layers: 100% .* concluded/);
  const writes = Number(/guest writes acknowledged\s+(\d+)/.exec(stdout)?.[1]);
  // At least the 100 writes before the transaction and the 100 after the pivot.
  expect(writes).toBeGreaterThanOrEqual(200);
  expect(stdout).toMatch(/blocks verified\s+512 of 512 on the destination chain/);
  expect(stdout).toContain('VERIFIED: every acknowledged write is on the destination.');
}, 180_000);
