import type { BlockStatusExtent } from '@strata/image-format';
import { BlockError } from '../errors.js';
import { filteredChildClaim } from '../graph/child-permissions.js';
import type { BlockEdge } from '../graph/edge.js';
import { BlockNode, type ImageInfo, type WriteZeroesOptions } from '../graph/node.js';
import type { PermissionClaim } from '../graph/permissions.js';

/**
 * The `raw` format node: the guest sees its `file` child's bytes unchanged. It holds no
 * metadata, so it passes its users' permissions straight down.
 */
export class RawNode extends BlockNode {
  readonly driver = 'raw';

  constructor(name: string, readOnly: boolean) {
    super(name, readOnly);
  }

  private get below(): BlockNode {
    const file = this.file;
    if (!file) throw new BlockError('invalid-argument', `Node '${this.name}' has no file child`);
    return file;
  }

  get length(): number {
    return this.file?.length ?? 0;
  }

  get filename(): string {
    return this.file?.filename ?? '';
  }

  childClaim(_edge: BlockEdge, cumulative: PermissionClaim): PermissionClaim {
    return filteredChildClaim(cumulative);
  }

  protected doRead(buf: Uint8Array, offset: number): Promise<void> {
    return this.below.read(buf, offset);
  }

  protected doWrite(buf: Uint8Array, offset: number): Promise<void> {
    return this.below.write(buf, offset);
  }

  protected doWriteZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    return this.below.writeZeroes(offset, length, options);
  }

  protected doDiscard(offset: number, length: number): Promise<void> {
    return this.below.discard(offset, length);
  }

  protected doFlush(): Promise<void> {
    return this.below.flush();
  }

  protected async doBlockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    return this.below.blockStatus(offset, length);
  }

  protected override doResize(size: number): Promise<void> {
    return this.below.resize(size);
  }

  imageInfo(): ImageInfo {
    return {
      'virtual-size': this.length,
      filename: this.filename,
      format: 'raw',
      'actual-size': this.file?.length ?? 0,
      'dirty-flag': false,
    };
  }
}
