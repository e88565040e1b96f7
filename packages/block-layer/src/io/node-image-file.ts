import type { ImageFile } from '@strata/image-format';
import type { BlockNode } from '../graph/node.js';

/**
 * Presents a node as an {@link ImageFile}, so an image-format driver reads and writes its
 * metadata and data through the graph (the `file` child), where requests are tracked and
 * permissions apply. `node` is looked up on each call because the child can be replaced.
 */
export class NodeImageFile implements ImageFile {
  constructor(private readonly node: () => BlockNode) {}

  get path(): string {
    return this.node().filename;
  }

  get readOnly(): boolean {
    return this.node().readOnly;
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    const node = this.node();
    const n = Math.max(0, Math.min(buf.length, node.length - offset));
    if (n > 0) await node.read(n === buf.length ? buf : buf.subarray(0, n), offset);
    return n;
  }

  write(buf: Uint8Array, offset: number): Promise<void> {
    return this.node().write(buf, offset);
  }

  flush(): Promise<void> {
    return this.node().flush();
  }

  truncate(size: number): Promise<void> {
    return this.node().resize(size);
  }

  async size(): Promise<number> {
    return this.node().length;
  }

  async close(): Promise<void> {
    // The node outlives the driver; the graph closes it.
  }
}
