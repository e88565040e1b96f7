import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Reads one of the package's worked examples (`examples/`). */
export function readExample(name: string): string {
  return readFileSync(fileURLToPath(new URL(`../../examples/${name}`, import.meta.url)), 'utf8');
}
