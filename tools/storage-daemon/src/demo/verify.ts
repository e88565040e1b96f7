import { openImage } from '@strata/image-format';
import { BLOCK, blockPattern } from './guest-writer.js';

/**
 * Reads a qcow2 chain with image-format and compares each of its first `blocks` blocks with
 * the model (block → last acknowledged write number; absent: zeroes). Returns the blocks
 * that differ.
 */
export async function verifyChain(
  top: string,
  blocks: number,
  model: ReadonlyMap<number, number>,
): Promise<number[]> {
  const image = await openImage(top, { format: 'qcow2', readOnly: true });
  const mismatches: number[] = [];
  const buf = new Uint8Array(BLOCK);
  const zero = new Uint8Array(BLOCK);
  try {
    for (let block = 0; block < blocks; block++) {
      await image.read(buf, block * BLOCK);
      const seq = model.get(block);
      const expected = seq === undefined ? zero : blockPattern(seq, block);
      if (Buffer.compare(buf, expected) !== 0) mismatches.push(block);
    }
  } finally {
    await image.close();
  }
  return mismatches;
}
