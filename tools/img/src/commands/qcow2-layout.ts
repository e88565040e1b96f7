/**
 * Size arithmetic of qcow2 metadata, used by `measure`: how many bytes of header, L1/L2 tables
 * and refcount structures an image of a given size needs when fully allocated.
 */

const L2_ENTRY = 8;
const L1_ENTRY = 8;
const REFTABLE_ENTRY = 8;
const BITMAP_TABLE_ENTRY = 8;
const BITMAP_DIR_ENTRY_HEADER = 24;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * Bytes of refcount table and refcount blocks needed to count `clusters` clusters plus the
 * refcount structures themselves (found as a fixed point, since they count themselves too).
 */
export function refcountMetadataSize(clusters: number, clusterSize: number, refcountBits: number): number {
  const blocksPerTableCluster = clusterSize / REFTABLE_ENTRY;
  const refcountsPerBlock = (clusterSize * 8) / refcountBits;
  let table = 0;
  let blocks = 0;
  let total = 0;
  let last: number;
  do {
    last = total;
    blocks = Math.ceil((clusters + table + blocks) / refcountsPerBlock);
    table = Math.ceil(blocks / blocksPerTableCluster);
    total = clusters + blocks + table;
  } while (total !== last);
  return (blocks + table) * clusterSize;
}

/** Size of a fully allocated qcow2 image of `virtualSize` bytes: data plus all metadata. */
export function fullyAllocatedSize(virtualSize: number, clusterSize: number, refcountBits: number): number {
  const aligned = roundUp(virtualSize, clusterSize);
  let meta = clusterSize; // header
  const l2Entries = roundUp(aligned / clusterSize, clusterSize / L2_ENTRY);
  meta += l2Entries * L2_ENTRY;
  const l1Entries = roundUp((l2Entries * L2_ENTRY) / clusterSize, clusterSize / L1_ENTRY);
  meta += l1Entries * L1_ENTRY;
  meta += refcountMetadataSize((meta + aligned) / clusterSize, clusterSize, refcountBits);
  return meta + aligned;
}

/** Bytes persistent bitmaps need in a qcow2 image with `clusterSize` clusters. */
export function bitmapsSize(
  bitmaps: ReadonlyArray<{ name: string; granularity: number }>,
  virtualSize: number,
  clusterSize: number,
): number {
  let size = 0;
  let directory = 0;
  for (const b of bitmaps) {
    const bytes = Math.ceil(Math.ceil(virtualSize / b.granularity) / 8);
    const clusters = Math.ceil(bytes / clusterSize);
    size += clusters * clusterSize;
    size += roundUp(clusters * BITMAP_TABLE_ENTRY, clusterSize);
    directory += roundUp(BITMAP_DIR_ENTRY_HEADER + new TextEncoder().encode(b.name).length, 8);
  }
  return size + roundUp(directory, clusterSize);
}
