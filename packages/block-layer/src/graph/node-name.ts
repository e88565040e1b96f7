import { BlockError } from '../errors.js';

/** Longest node name QEMU accepts (its buffer holds 32 bytes with the terminator). */
export const MAX_NODE_NAME_LENGTH = 31;

/**
 * QEMU's rule for user-chosen ids (node names, job ids): a letter first, then letters,
 * digits, `-`, `.` or `_`. Names starting with `#` are reserved for generated ones.
 */
export function isWellFormedId(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9._-]*$/.test(id);
}

/** Checks a user-chosen node name, with QEMU's messages. */
export function checkNodeName(name: string): void {
  if (!isWellFormedId(name)) throw new BlockError('invalid-argument', `Invalid node-name: '${name}'`);
  if (name.length > MAX_NODE_NAME_LENGTH) throw new BlockError('invalid-argument', 'Node name too long');
}

/**
 * Generates names for nodes the user did not name, shaped like QEMU's (`#block` + a
 * counter + two random digits, e.g. `#block123`). The random part keeps users from
 * relying on the numbering, as in QEMU; `random` is injectable for reproducible tests.
 */
export class NodeNameGenerator {
  private counter = 0;

  constructor(private readonly random: () => number = Math.random) {}

  next(): string {
    const rnd = Math.min(99, Math.floor(this.random() * 100));
    return `#block${this.counter++}${String(rnd).padStart(2, '0')}`;
  }
}
