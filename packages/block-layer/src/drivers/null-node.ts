import type { BlockStatusExtent } from '@strata/image-format';
import type { BlockEdge } from '../graph/edge.js';
import { BlockNode, type ImageInfo } from '../graph/node.js';
import type { PermissionClaim } from '../graph/permissions.js';

/** QEMU's default size of a `null-co` node: 1 GiB. */
export const NULL_DEFAULT_SIZE = 1 << 30;

/**
 * The `null-co` node: a sink of a given size. Writes vanish; reads return zeroes (QEMU
 * leaves the buffer untouched unless `read-zeroes` is set; zeroes are the safe choice).
 */
export class NullNode extends BlockNode {
  readonly driver = 'null-co';
  private size: number;

  constructor(
    name: string,
    size = NULL_DEFAULT_SIZE,
    readonly readZeroes = false,
    readOnly = false,
  ) {
    super(name, readOnly);
    this.size = size;
  }

  get length(): number {
    return this.size;
  }

  get filename(): string {
    const options: Record<string, unknown> = { driver: 'null-co' };
    if (this.readZeroes) options['read-zeroes'] = true;
    options['size'] = this.size;
    return `json:${JSON.stringify(options).replaceAll(',', ', ').replaceAll('":', '": ')}`;
  }

  childClaim(_edge: BlockEdge, cumulative: PermissionClaim): PermissionClaim {
    return cumulative;
  }

  protected async doRead(buf: Uint8Array): Promise<void> {
    buf.fill(0);
  }

  protected async doWrite(): Promise<void> {}
  protected async doWriteZeroes(): Promise<void> {}
  protected async doDiscard(): Promise<void> {}
  protected async doFlush(): Promise<void> {}

  protected async doBlockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    return [{ offset, length, status: this.readZeroes ? 'zero' : 'data' }];
  }

  protected override async doResize(size: number): Promise<void> {
    this.size = size;
  }

  imageInfo(): ImageInfo {
    return { 'virtual-size': this.size, filename: this.filename, format: 'null-co', 'actual-size': 0 };
  }
}
