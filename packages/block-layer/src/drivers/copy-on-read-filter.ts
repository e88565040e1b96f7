import type { BlockEdge } from '../graph/edge.js';
import type { WriteZeroesOptions } from '../graph/node.js';
import { type PermissionClaim, perms, union } from '../graph/permissions.js';
import { RangeLock } from '../io/range-lock.js';
import { FilterNode } from './filter-node.js';

/**
 * The `copy-on-read` filter a stream job puts above the node it fills: guest I/O passes
 * through, and {@link prefetch} copies what the node does not hold yet from its backing
 * chain into it. Prefetches and guest writes on overlapping ranges are serialised, so a
 * copy can never overwrite newer guest data with older backing data.
 */
export class CopyOnReadFilter extends FilterNode {
  readonly driver = 'copy-on-read';
  readonly filteredRole = 'file' as const;
  private readonly lock = new RangeLock();

  override childClaim(_edge: BlockEdge, cumulative: PermissionClaim): PermissionClaim {
    // Copying backing data up does not change what the guest sees: write-unchanged.
    return {
      perm: union(cumulative.perm, perms('consistent-read', 'write-unchanged')),
      shared: cumulative.shared,
    };
  }

  /**
   * Copies [offset, offset+length) into the filtered node where it is not allocated there
   * yet. Returns the number of bytes copied.
   */
  async prefetch(offset: number, length: number): Promise<number> {
    const release = await this.lock.acquire(offset, length);
    try {
      const node = this.filtered;
      let copied = 0;
      for (const extent of await node.blockStatus(offset, length)) {
        if (extent.status !== 'unallocated') continue;
        const data = new Uint8Array(extent.length);
        await node.read(data, extent.offset);
        await node.write(data, extent.offset);
        copied += extent.length;
      }
      return copied;
    } finally {
      release();
    }
  }

  protected override async doWrite(buf: Uint8Array, offset: number): Promise<void> {
    const release = await this.lock.acquire(offset, buf.length);
    try {
      await this.filtered.write(buf, offset);
    } finally {
      release();
    }
  }

  protected override async doWriteZeroes(
    offset: number,
    length: number,
    options: WriteZeroesOptions,
  ): Promise<void> {
    const release = await this.lock.acquire(offset, length);
    try {
      await this.filtered.writeZeroes(offset, length, options);
    } finally {
      release();
    }
  }

  protected override async doDiscard(offset: number, length: number): Promise<void> {
    const release = await this.lock.acquire(offset, length);
    try {
      await this.filtered.discard(offset, length);
    } finally {
      release();
    }
  }
}
