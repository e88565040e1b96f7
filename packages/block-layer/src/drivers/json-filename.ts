import type { BlockNode } from '../graph/node.js';

/**
 * QEMU names a node whose options cannot be told from a plain file name (for example a
 * qcow2 node whose backing differs from the one in its header) by a `json:` pseudo file
 * name: the node's options as JSON with sorted keys, in QEMU's spacing.
 */
export function jsonFilename(options: Record<string, unknown>): string {
  return `json:${formatJson(options)}`;
}

/** The options object describing `node` (driver, file name, children), for {@link jsonFilename}. */
export function nodeOptions(node: BlockNode): Record<string, unknown> {
  if (node.driver === 'file') return { driver: 'file', filename: node.filename };
  const options: Record<string, unknown> = { driver: node.driver };
  const file = node.file;
  if (file) options['file'] = nodeOptions(file);
  const backing = node.backing;
  if (backing) options['backing'] = nodeOptions(backing);
  return options;
}

function formatJson(value: unknown): string {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${formatJson(v)}`).join(', ')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(formatJson).join(', ')}]`;
  return JSON.stringify(value);
}
