import { describe, expect, it } from 'vitest';
import { captureContext } from './cli/context.js';
import { runImg } from './run-img.js';

describe('runImg', () => {
  it('reports usage errors as qemu-img does, without touching any file', async () => {
    const ctx = captureContext();
    expect(await runImg([], ctx)).toBe(1);
    expect(ctx.stderr).toBe(
      "strata-img: Not enough arguments\nTry 'strata-img --help' for more information\n",
    );
  });

  it('names unknown commands', async () => {
    const ctx = captureContext();
    expect(await runImg(['frob'], ctx)).toBe(1);
    expect(ctx.stderr).toBe(
      "strata-img: Command not found: frob\nTry 'strata-img --help' for more information\n",
    );
  });

  it('prints help listing every command', async () => {
    const ctx = captureContext();
    expect(await runImg(['--help'], ctx)).toBe(0);
    for (const name of [
      'bitmap',
      'check',
      'commit',
      'compare',
      'convert',
      'create',
      'info',
      'map',
      'measure',
      'rebase',
      'resize',
      'snapshot',
    ]) {
      expect(ctx.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    }
  });

  it('refuses to open an image for writing without -f', async () => {
    const ctx = captureContext();
    expect(await runImg(['resize', 'disk.img', '+1M'], ctx)).toBe(1);
    expect(ctx.stderr).toMatch(
      /^strata-img: Could not open 'disk.img': the image format must be given with -f/,
    );
  });
});
