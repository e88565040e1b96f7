import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, it, vi } from 'vitest';

/** The README's NBD example is run as written (its import pointed at this package's sources). */
it('README NBD example serves a node and reads it back through the client', async () => {
  const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(readme.indexOf('## NBD server and client'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toBeDefined();
  const dir = await mkdtemp(join(tmpdir(), 'strata-nbd-readme-'));
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.join(' '));
  });
  try {
    const index = pathToFileURL(fileURLToPath(new URL('../index.ts', import.meta.url))).href;
    const file = join(dir, 'example.ts');
    await writeFile(
      file,
      `${(code ?? '').replace("from '@strata/block-layer'", `from '${index}'`)}\nexport {};\n`,
    );
    await import(pathToFileURL(file).href);
  } finally {
    log.mockRestore();
    await rm(dir, { recursive: true, force: true });
  }
  expect(lines).toEqual([
    'size 1048576 read 0,0,1,1',
    'exports [{"type":"nbd","id":"exp0","node-name":"disk","shutting-down":false}]',
    'BLOCK_EXPORT_DELETED exp0',
  ]);
});
