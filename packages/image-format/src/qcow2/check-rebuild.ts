import { ImageError } from '../errors.js';
import type { ImageFile } from '../image-file.js';
import { writeEntry } from './check-refcounts.js';
import { MAX_REFTABLE_BYTES } from './constants.js';

/** Where a rebuilt refcount structure ended up. */
export interface RebuiltRefcounts {
  tableOffset: number;
  tableClusters: number;
  /** The expected refcounts, grown to include the new table and blocks. */
  refs: Uint32Array;
}

/**
 * Writes a new refcount structure from the references check counted: fresh refcount
 * blocks for every range that holds a referenced cluster, a fresh refcount table, and then
 * one header update that switches to them. Everything new goes into clusters nothing
 * references, so a crash before the header update leaves the old structure in place. The
 * old table and blocks are not freed here; the check that follows finds them as leaks.
 */
export async function rebuildRefcountStructure(
  file: ImageFile,
  clusterBits: number,
  refcountOrder: number,
  counted: Uint32Array,
): Promise<RebuiltRefcounts> {
  const clusterSize = 2 ** clusterBits;
  const entryBits = 2 ** refcountOrder;
  const perBlock = (clusterSize * 8) / entryBits;
  const perTableCluster = clusterSize / 8;
  let refs = counted;
  let firstFree = 0;

  const grow = (size: number) => {
    if (size <= refs.length) return;
    const bigger = new Uint32Array(Math.max(size, Math.ceil(refs.length * 1.5)));
    bigger.set(refs);
    refs = bigger;
  };
  /** First run of `count` unreferenced clusters at or after `from`; marks them referenced once. */
  const allocate = (from: number, count: number): number => {
    let start = Math.max(from, 0);
    for (;;) {
      let run = 0;
      while (run < count && (start + run >= refs.length || refs[start + run] === 0)) run++;
      if (run === count) break;
      start += run + 1;
    }
    grow(start + count);
    for (let c = start; c < start + count; c++) refs[c] = 1;
    if (start === firstFree) firstFree = start + count;
    return start;
  };

  const blocks: number[] = [];
  let tableStart = -1;
  let tableClusters = 0;
  // Allocating blocks and the table references new clusters, which may need more blocks
  // and a bigger table: repeat until one pass changes nothing.
  for (let changed = true; changed; ) {
    changed = false;
    for (let c = 0; c < refs.length; c++) {
      if (refs[c] === 0) continue;
      const b = Math.floor(c / perBlock);
      if (blocks[b] === undefined) {
        // Like QEMU, prefer a place inside the range the block describes.
        blocks[b] = allocate(Math.max(firstFree, b * perBlock), 1);
        changed = true;
      }
      c = (b + 1) * perBlock - 1;
    }
    const needed = Math.max(1, Math.ceil(blocks.length / perTableCluster));
    if (needed * clusterSize > MAX_REFTABLE_BYTES) {
      throw new ImageError('too-large', 'Rebuilding would make the refcount table too large');
    }
    if (needed > tableClusters) {
      if (tableStart >= 0) for (let c = tableStart; c < tableStart + tableClusters; c++) refs[c] = 0;
      tableStart = allocate(0, needed);
      tableClusters = needed;
      changed = true;
    }
  }

  const block = new Uint8Array(clusterSize);
  for (let b = 0; b < blocks.length; b++) {
    const at = blocks[b];
    if (at === undefined) continue;
    block.fill(0);
    for (let i = 0; i < perBlock; i++) {
      const value = refs[b * perBlock + i] ?? 0;
      if (value !== 0) writeEntry(block, i, entryBits, BigInt(value));
    }
    await file.write(block, at * clusterSize);
  }
  const table = new Uint8Array(tableClusters * clusterSize);
  const view = new DataView(table.buffer);
  for (let b = 0; b < blocks.length; b++) {
    const at = blocks[b];
    if (at !== undefined) view.setBigUint64(b * 8, BigInt(at * clusterSize));
  }
  await file.write(table, tableStart * clusterSize);
  await file.flush();

  // refcount_table_offset (u64 at 48) and refcount_table_clusters (u32 at 56) in one write.
  const header = new Uint8Array(12);
  const headerView = new DataView(header.buffer);
  headerView.setBigUint64(0, BigInt(tableStart * clusterSize));
  headerView.setUint32(8, tableClusters);
  await file.write(header, 48);
  await file.flush();
  return { tableOffset: tableStart * clusterSize, tableClusters, refs };
}
