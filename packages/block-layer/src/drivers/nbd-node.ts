import type { BlockStatusExtent } from '@strata/image-format';
import { BlockError } from '../errors.js';
import type { BlockEdge } from '../graph/edge.js';
import type { BlockGraph } from '../graph/graph.js';
import { BlockNode, type ImageInfo, type WriteZeroesOptions } from '../graph/node.js';
import type { PermissionClaim } from '../graph/permissions.js';
import { NbdClient } from '../nbd/client.js';
import { AllocFlag, BASE_ALLOCATION } from '../nbd/constants.js';
import type { NbdListenAddress } from '../nbd/transport.js';

/** `blockdev-add` options of the `nbd` driver (QEMU's BlockdevOptionsNbd subset). */
export interface NbdNodeOptions {
  nodeName?: string;
  server: NbdListenAddress;
  /** The export name (QEMU's `export`); empty for the server's default. */
  export?: string;
  readOnly?: boolean;
  monitorOwned?: boolean;
}

/**
 * The `nbd` protocol node: a remote export reached over a unix socket or TCP. Usable as a
 * mirror or backup target and as a backing node; block status comes from the server's
 * `base:allocation` context when it offers one. If the server goes away, every request
 * fails with a `BlockError` (reason `io`) naming the lost connection.
 */
export class NbdNode extends BlockNode {
  readonly driver = 'nbd';
  private readonly allocationId: number | undefined;

  constructor(
    name: string,
    private readonly client: NbdClient,
    private readonly server: NbdListenAddress,
    private readonly exportName: string,
    readOnly: boolean,
  ) {
    super(name, readOnly || client.readOnly);
    this.allocationId = client.contexts.get(BASE_ALLOCATION);
  }

  get length(): number {
    return this.client.size;
  }

  get filename(): string {
    const name = encodeURI(this.exportName);
    return this.server.type === 'unix'
      ? `nbd+unix:///${name}?socket=${this.server.path}`
      : `nbd://${this.server.host}:${this.server.port}/${name}`;
  }

  childClaim(_edge: BlockEdge, cumulative: PermissionClaim): PermissionClaim {
    return cumulative;
  }

  protected async doRead(buf: Uint8Array, offset: number): Promise<void> {
    await this.client.readInto(buf, offset);
  }

  protected async doWrite(buf: Uint8Array, offset: number): Promise<void> {
    await this.client.write(buf, offset);
  }

  protected async doWriteZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    if (this.client.canWriteZeroes) {
      await this.client.writeZeroes(offset, length, { noHole: !options.mayUnmap });
      return;
    }
    const step = 1 << 20;
    for (let done = 0; done < length; done += step) {
      await this.client.write(new Uint8Array(Math.min(step, length - done)), offset + done);
    }
  }

  protected async doDiscard(offset: number, length: number): Promise<void> {
    // Discard is advisory: a server without TRIM simply keeps the data.
    if (this.client.canTrim) await this.client.trim(offset, length);
  }

  protected async doFlush(): Promise<void> {
    await this.client.flush();
  }

  protected async doBlockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    const id = this.allocationId;
    if (id === undefined) return [{ offset, length, status: 'data' }];
    const out: BlockStatusExtent[] = [];
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const extents = (await this.client.blockStatus(pos, end - pos)).get(id) ?? [];
      if (extents.length === 0) throw new BlockError('io', 'NBD server sent no block status');
      for (const e of extents) {
        if (pos >= end || e.length === 0) break;
        const len = Math.min(e.length, end - pos);
        out.push({ offset: pos, length: len, status: e.flags & AllocFlag.ZERO ? 'zero' : 'data' });
        pos += len;
      }
    }
    return out;
  }

  override async close(): Promise<void> {
    await this.client.close();
  }

  imageInfo(): ImageInfo {
    return { filename: this.filename, format: 'nbd', 'virtual-size': this.length };
  }
}

/** Connects to the server and adds an `nbd` node; nothing is added when the connection fails. */
export async function addNbdNode(graph: BlockGraph, options: NbdNodeOptions): Promise<NbdNode> {
  const name = graph.nameFor(options.nodeName);
  const exportName = options.export ?? '';
  const client = await NbdClient.connect({ server: options.server, exportName });
  try {
    const node = new NbdNode(name, client, options.server, exportName, options.readOnly ?? false);
    graph.register(node, { monitorOwned: options.monitorOwned ?? true });
    return node;
  } catch (error) {
    await client.close();
    throw error;
  }
}
