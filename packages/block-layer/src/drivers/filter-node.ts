import type { BlockStatusExtent } from '@strata/image-format';
import { BlockError } from '../errors.js';
import { filteredChildClaim } from '../graph/child-permissions.js';
import type { BlockEdge } from '../graph/edge.js';
import { BlockNode, type ImageInfo, type WriteZeroesOptions } from '../graph/node.js';
import type { PermissionClaim } from '../graph/permissions.js';

/**
 * Base of the filter nodes jobs insert above a node (`mirror_top`, `commit_top`,
 * `copy-on-read`, `copy-before-write`): one child (`file` or `backing`, by driver), the
 * same length, I/O passed through. Subclasses override the hooks they intercept.
 * A filter without a user-given name is implicit and hidden from most queries.
 */
export abstract class FilterNode extends BlockNode {
  override readonly isFilter = true;
  /** The role of the filtered child: QEMU's job filters use `backing`, others `file`. */
  abstract readonly filteredRole: 'file' | 'backing';

  constructor(
    name: string,
    readOnly: boolean,
    readonly implicit = false,
  ) {
    super(name, readOnly);
  }

  /** The node below the filter. */
  get filtered(): BlockNode {
    const edge = this.child(this.filteredRole);
    if (!edge) throw new BlockError('invalid-argument', `Filter '${this.name}' has no child`);
    return edge.child;
  }

  get length(): number {
    return this.child(this.filteredRole)?.child.length ?? 0;
  }

  get filename(): string {
    return this.child(this.filteredRole)?.child.filename ?? '';
  }

  childClaim(_edge: BlockEdge, cumulative: PermissionClaim): PermissionClaim {
    return filteredChildClaim(cumulative);
  }

  protected doRead(buf: Uint8Array, offset: number): Promise<void> {
    return this.filtered.read(buf, offset);
  }

  protected doWrite(buf: Uint8Array, offset: number): Promise<void> {
    return this.filtered.write(buf, offset);
  }

  protected doWriteZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    return this.filtered.writeZeroes(offset, length, options);
  }

  protected doDiscard(offset: number, length: number): Promise<void> {
    return this.filtered.discard(offset, length);
  }

  protected doFlush(): Promise<void> {
    return this.filtered.flush();
  }

  protected doBlockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    return this.filtered.blockStatus(offset, length);
  }

  imageInfo(): ImageInfo {
    return { 'virtual-size': this.length, filename: this.filename, format: this.driver };
  }
}

/** A pass-through filter with a configurable driver name, for tests and simple uses. */
export class PassThroughFilter extends FilterNode {
  readonly filteredRole: 'file' | 'backing';

  constructor(
    readonly driver: string,
    name: string,
    options: { role?: 'file' | 'backing'; implicit?: boolean } = {},
  ) {
    super(name, false, options.implicit ?? false);
    this.filteredRole = options.role ?? 'file';
  }
}
