import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as api from './index.js';

// The README's example must run and print what its comments say.
describe('README example', () => {
  it('runs and prints what it promises', () => {
    const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    const importLine = /^import \{([^}]*)\} from '@strata\/xml-model';\n/m.exec(code!);
    if (!importLine) throw new Error('the README example must import from @strata/xml-model');
    const names = importLine[1]!.split(',').map((n) => n.trim());
    for (const name of names) expect(api).toHaveProperty(name);
    const body = `const { ${names.join(', ')} } = api;\n${code!.replace(importLine[0], '')}`;
    const printed: string[] = [];
    const fakeConsole = { log: (value: unknown) => printed.push(String(value)) };
    new Function('api', 'console', body)(api, fakeConsole);
    expect(printed[0]).toBe('/images/base.qcow2');
    expect(printed[1]).toContain("<source file='/images/top.qcow2'/>");
    expect(printed[1]).not.toContain('index=');
    expect(printed[2]).toBe(
      'line 9: /domain/devices[1]/disk[1]/backingStore[1]: missing disk backing store format',
    );
    expect(code).toContain(`// ${printed[2]}`);
  });
});
