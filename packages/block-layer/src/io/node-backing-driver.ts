import type { BlockStatusExtent, ImageDriver, ImageFormatName } from '@strata/image-format';
import { BlockError } from '../errors.js';
import type { BlockNode } from '../graph/node.js';

/**
 * Presents a format node's current `backing` child to its image-format driver as the
 * driver's backing image, so the driver's own copy-on-write and zero handling see the
 * graph's backing chain. The node is looked up on every call: changing the backing link
 * in the graph changes what the driver reads, without reopening it. With no backing node
 * it reads zeroes. It is read-only, and closing it leaves the node open (the graph owns it).
 */
export class NodeBackingDriver implements ImageDriver {
  readonly readOnly = true;
  readonly backing = null;
  readonly backingFileName = null;
  readonly backingFormat = null;

  constructor(private readonly current: () => BlockNode | null) {}

  get format(): ImageFormatName {
    return this.current()?.driver === 'raw' ? 'raw' : 'qcow2';
  }

  get virtualSize(): number {
    return this.current()?.length ?? 0;
  }

  get filename(): string {
    return this.current()?.filename ?? '';
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    const node = this.current();
    const available = node ? Math.max(0, Math.min(buf.length, node.length - offset)) : 0;
    if (node && available > 0) await node.read(buf.subarray(0, available), offset);
    buf.fill(0, available);
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    const node = this.current();
    if (!node) return [{ offset, length, status: 'unallocated' }];
    return node.blockStatus(offset, length);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  async write(): Promise<void> {
    throw readOnly();
  }

  async writeZeroes(): Promise<void> {
    throw readOnly();
  }

  async discard(): Promise<void> {
    throw readOnly();
  }

  async resize(): Promise<void> {
    throw readOnly();
  }
}

function readOnly(): BlockError {
  return new BlockError('read-only', 'A backing node is never written through its overlay');
}
