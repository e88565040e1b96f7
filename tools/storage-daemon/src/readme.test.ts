import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, it, vi } from 'vitest';

/** The README's embedding example runs as written (its own import pointed at the sources). */
it('README example drives an embedded monitor', async () => {
  const readme = await readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const dir = await mkdtemp(join(tmpdir(), 'strata-sd-readme-'));
  const cwd = process.cwd();
  const printed: unknown[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((value: unknown) => {
    printed.push(value);
  });
  try {
    const dependency = (name: string) =>
      new URL(`../node_modules/@strata/${name}/dist/index.js`, import.meta.url).href;
    const index = pathToFileURL(fileURLToPath(new URL('./index.ts', import.meta.url))).href;
    const script = code!
      .replace("from '@strata/storage-daemon'", `from '${index}'`)
      .replace("from '@strata/block-layer'", `from '${dependency('block-layer')}'`)
      .replace("from '@strata/qmp-protocol'", `from '${dependency('qmp-protocol')}'`);
    const file = join(dir, 'example.ts');
    await writeFile(file, `${script}\nexport {};\n`);
    process.chdir(dir);
    await import(pathToFileURL(file).href);
  } finally {
    process.chdir(cwd);
    log.mockRestore();
    await rm(dir, { recursive: true, force: true });
  }
  expect(printed).toHaveLength(1);
  expect((printed[0] as { 'node-name': string }[]).map((n) => n['node-name'])).toEqual(['n0']);
});
