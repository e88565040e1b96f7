import type { WriteZeroesOptions } from '../graph/node.js';
import { FilterNode } from './filter-node.js';

/**
 * What the `mirror_top` filter asks of its job for every modifying request, in
 * write-blocking mode: `before` runs ahead of the source write (waiting for overlapping
 * background copies), `after` sends the same change to the target once the source took it.
 */
export interface ActiveMirrorHooks {
  before(offset: number, length: number): Promise<() => void>;
  after(
    request: { kind: 'write'; data: Uint8Array } | { kind: 'zeroes' | 'discard' },
    offset: number,
    length: number,
  ): Promise<void>;
}

/**
 * The filter a mirror (or active commit) puts above its source (driver `mirror_top`, child
 * role `backing`): every user of the source reaches it through here. In background mode it
 * only passes I/O through (the job's dirty bitmap on the source records writes); in
 * write-blocking mode each write is also applied to the target before the guest sees it
 * complete, so a ready mirror's target never lags behind.
 */
export class MirrorTopFilter extends FilterNode {
  readonly driver: string = 'mirror_top';
  readonly filteredRole = 'backing' as const;
  /** Set by the job in write-blocking mode. */
  active: ActiveMirrorHooks | null = null;

  protected override async doWrite(buf: Uint8Array, offset: number): Promise<void> {
    const active = this.active;
    if (!active) return this.filtered.write(buf, offset);
    // The guest may reuse its buffer once the source write returns: keep our own copy.
    const data = buf.slice();
    const release = await active.before(offset, data.length);
    try {
      await this.filtered.write(data, offset);
      await active.after({ kind: 'write', data }, offset, data.length);
    } finally {
      release();
    }
  }

  protected override async doWriteZeroes(
    offset: number,
    length: number,
    options: WriteZeroesOptions,
  ): Promise<void> {
    const active = this.active;
    if (!active) return this.filtered.writeZeroes(offset, length, options);
    const release = await active.before(offset, length);
    try {
      await this.filtered.writeZeroes(offset, length, options);
      await active.after({ kind: 'zeroes' }, offset, length);
    } finally {
      release();
    }
  }

  protected override async doDiscard(offset: number, length: number): Promise<void> {
    const active = this.active;
    if (!active) return this.filtered.discard(offset, length);
    const release = await active.before(offset, length);
    try {
      await this.filtered.discard(offset, length);
      await active.after({ kind: 'discard' }, offset, length);
    } finally {
      release();
    }
  }
}
