import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Root of the libvirt test vectors shipped in third_party/ (libvirt v9.0.0, LGPL-2.1+). */
export const CORPUS_ROOT = fileURLToPath(new URL('../../third_party/libvirt-tests/tests/', import.meta.url));

/** Reads one vector, by its path below libvirt's `tests/` directory. */
export function readVector(path: string): string {
  return readFileSync(`${CORPUS_ROOT}${path}`, 'utf8');
}

/**
 * Cuts the `<disk>` elements out of a formatted domain document, each de-indented to column 0,
 * in document order. Works on libvirt's own output, whose layout is regular.
 */
export function diskBlocks(document: string): string[] {
  const lines = document.split('\n');
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)<disk[ >]/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!;
    const block: string[] = [];
    if (lines[i]!.endsWith('/>')) block.push(lines[i]!);
    else {
      for (; i < lines.length; i++) {
        block.push(lines[i]!);
        if (lines[i] === `${indent}</disk>`) break;
      }
    }
    blocks.push(`${block.map((l) => l.slice(indent.length)).join('\n')}\n`);
  }
  return blocks;
}

/** Removes, from a de-indented disk block, direct children with the given element name. */
export function withoutDiskChild(block: string, name: string): string {
  return block
    .split('\n')
    .filter((line) => !new RegExp(`^  <${name}[ />]`).test(line))
    .join('\n');
}
