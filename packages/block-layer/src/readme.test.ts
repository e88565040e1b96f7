import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, it, vi } from 'vitest';

/** The README's example is run as written (imports pointed at this package's sources). */
it('README example runs and prints the stream job events', async () => {
  const readme = await readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const dir = await mkdtemp(join(tmpdir(), 'strata-readme-'));
  const cwd = process.cwd();
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.join(' '));
  });
  try {
    const index = pathToFileURL(fileURLToPath(new URL('./index.ts', import.meta.url))).href;
    // The package's own dependency link (the entry point its package.json exports).
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
  expect(
    lines.map(
      (l) =>
        l.split(' ')[0] +
        (l.includes('"status"') ? ` ${JSON.parse(l.slice(l.indexOf(' ') + 1)).status}` : ''),
    ),
  ).toEqual([
    'JOB_STATUS_CHANGE created',
    'JOB_STATUS_CHANGE running',
    'JOB_STATUS_CHANGE waiting',
    'JOB_STATUS_CHANGE pending',
    'BLOCK_JOB_COMPLETED',
    'JOB_STATUS_CHANGE concluded',
    'JOB_STATUS_CHANGE null',
  ]);
});
