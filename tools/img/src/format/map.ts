import type { ChainExtent } from '../commands/chain-status.js';

/** One line of `qemu-img map --output=json` (without the separators between lines). */
export function mapEntryJson(e: ChainExtent): string {
  let line = `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth}, "present": ${e.present}, "zero": ${e.zero}, "data": ${e.data}`;
  if (e.offset !== undefined) line += `, "offset": ${e.offset}`;
  return `${line}}`;
}

/** The human table header of `qemu-img map`. */
export const MAP_HUMAN_HEADER = `${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File\n`;

/**
 * One human row, or '' for ranges that hold no data (the human format lists only data).
 * Throws for data without a host offset (compressed), which the human format cannot show.
 */
export function mapEntryHuman(e: ChainExtent): string {
  if (e.data && e.offset === undefined)
    throw new Error('File contains external, encrypted or compressed clusters.');
  if (!e.data || e.zero) return '';
  return `${hex(e.start).padEnd(16)}${hex(e.length).padEnd(16)}${hex(e.offset ?? 0).padEnd(16)}${e.file ?? ''}\n`;
}

/** C's `%#x`: no prefix for zero. */
function hex(n: number): string {
  return n === 0 ? '0' : `0x${n.toString(16)}`;
}
