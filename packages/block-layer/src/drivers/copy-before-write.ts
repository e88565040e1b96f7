import type { BlockCopy } from '../copy/block-copy.js';
import type { WriteZeroesOptions } from '../graph/node.js';
import { FilterNode } from './filter-node.js';

/** QMP's OnCbwError: what a failed copy-before-write does to the guest write. */
export type OnCbwError = 'break-guest-write' | 'break-snapshot';

/**
 * The `copy-before-write` filter a backup puts above its source (child role `file`):
 * before any write, zero-write or discard reaches the source, the old contents of the
 * touched clusters that the backup still has to copy are copied to the target first. The
 * target therefore holds the source as it was when the backup started.
 */
export class CopyBeforeWriteFilter extends FilterNode {
  readonly driver = 'copy-before-write';
  readonly filteredRole = 'file' as const;
  /** The job's copy state; null once the job let go (writes pass straight through). */
  copy: BlockCopy | null = null;
  onCbwError: OnCbwError = 'break-guest-write';
  /** With `break-snapshot`, a failed copy makes the point-in-time view unusable. */
  snapshotBroken = false;

  private async copyOld(offset: number, length: number): Promise<void> {
    const copy = this.copy;
    if (!copy || this.snapshotBroken) return;
    try {
      await copy.copyNow(offset, length);
    } catch (error) {
      if (this.onCbwError === 'break-guest-write') throw error;
      this.snapshotBroken = true;
    }
  }

  protected override async doWrite(buf: Uint8Array, offset: number): Promise<void> {
    await this.copyOld(offset, buf.length);
    await this.filtered.write(buf, offset);
  }

  protected override async doWriteZeroes(
    offset: number,
    length: number,
    options: WriteZeroesOptions,
  ): Promise<void> {
    await this.copyOld(offset, length);
    await this.filtered.writeZeroes(offset, length, options);
  }

  protected override async doDiscard(offset: number, length: number): Promise<void> {
    await this.copyOld(offset, length);
    await this.filtered.discard(offset, length);
  }
}
