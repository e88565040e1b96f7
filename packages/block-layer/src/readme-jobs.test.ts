import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, it, vi } from 'vitest';

/** The README's live-jobs example (its second ts block) is run as written. */
it('README live-jobs example runs: backup, then snapshot plus mirror pivoting the guest', async () => {
  const readme = await readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const code = blocks.find((b) => b.includes('jobTransaction'));
  expect(code).toBeDefined();
  const dir = await mkdtemp(join(tmpdir(), 'strata-readme-jobs-'));
  const cwd = process.cwd();
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.join(' '));
  });
  try {
    const index = pathToFileURL(fileURLToPath(new URL('./index.ts', import.meta.url))).href;
    const imageFormat = new URL('../node_modules/@strata/image-format/dist/index.js', import.meta.url).href;
    const script = code!
      .replace("from '@strata/block-layer'", `from '${index}'`)
      .replace("from '@strata/image-format'", `from '${imageFormat}'`);
    const file = join(dir, 'example.ts');
    await writeFile(file, `${script}\nexport {};\n`);
    process.chdir(dir);
    await import(pathToFileURL(file).href);
  } finally {
    process.chdir(cwd);
    log.mockRestore();
    await rm(dir, { recursive: true, force: true });
  }
  expect(lines.filter((l) => l.startsWith('BLOCK_JOB'))).toEqual([
    'BLOCK_JOB_COMPLETED',
    'BLOCK_JOB_READY',
    'BLOCK_JOB_COMPLETED',
  ]);
  expect(lines[lines.length - 1]).toBe('copy');
});
