import type { BlockStatusExtent } from '@strata/image-format';
import { BlockError } from '../errors.js';
import type { BlockEdge, BlockUser } from '../graph/edge.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode, WriteZeroesOptions } from '../graph/node.js';
import { CLAIMS, type PermissionClaim } from '../graph/permissions.js';

/** A modifying request as seen by write notifiers. */
export interface WriteRequest {
  kind: 'write' | 'write-zeroes' | 'discard';
  offset: number;
  length: number;
}

/**
 * Hooks on every modifying request through a backend: `before` runs (and is awaited)
 * before the data changes, e.g. to copy the old data away; `after` runs once it changed.
 */
export interface WriteNotifier {
  before?(request: WriteRequest): Promise<void> | void;
  after?(request: WriteRequest): void;
}

/** Options of {@link BlockBackend.attach}. */
export interface BlockBackendOptions {
  /** The device name (`block device 'x'` in messages). Nodes added by blockdev-add have none. */
  name?: string;
  /** What the backend needs and tolerates; defaults to a guest writer. */
  claim?: PermissionClaim;
  /** Role name in permission messages (QEMU calls it `root`). */
  role?: string;
}

/**
 * An attachment point on a node (a guest device, an export, a job's own handle): it holds
 * permissions on its node, checks bounds and its write permission, waits while its node
 * is drained, and calls its write notifiers around every modifying request.
 */
export class BlockBackend implements BlockUser {
  readonly kind = 'backend' as const;
  private edge: BlockEdge | null;
  private readonly notifiers = new Set<WriteNotifier>();

  private constructor(
    private readonly graph: BlockGraph,
    edge: BlockEdge | null,
    readonly name: string | undefined,
  ) {
    this.edge = edge;
  }

  /** Attaches a backend to `node`; refused (with QEMU's conflict message) if its claim conflicts. */
  static attach(graph: BlockGraph, node: BlockNode, options: BlockBackendOptions = {}): BlockBackend {
    const backend = new BlockBackend(graph, null, options.name);
    backend.edge = graph.attachUser(backend, node, options.role ?? 'root', options.claim ?? CLAIMS.writer);
    return backend;
  }

  describe(): string {
    return this.name ? `block device '${this.name}'` : 'an unnamed block device';
  }

  /** The node this backend is attached to. */
  get node(): BlockNode {
    if (!this.edge) throw new BlockError('not-found', 'Block backend is detached');
    return this.edge.child;
  }

  get attached(): boolean {
    return this.edge !== null;
  }

  get claim(): PermissionClaim {
    return this.edge?.requested ?? CLAIMS.none;
  }

  get length(): number {
    return this.node.length;
  }

  /** Changes this backend's permissions; refused (and unchanged) on a conflict. */
  setClaim(claim: PermissionClaim): void {
    if (!this.edge) throw new BlockError('not-found', 'Block backend is detached');
    this.graph.setRequested(this.edge, claim);
  }

  addWriteNotifier(notifier: WriteNotifier): () => void {
    this.notifiers.add(notifier);
    return () => this.notifiers.delete(notifier);
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    await this.submit(offset, buf.length, null, (node) => node.read(buf, offset));
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    await this.submit(offset, buf.length, 'write', (node) => node.write(buf, offset));
  }

  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions = {}): Promise<void> {
    await this.submit(offset, length, 'write-zeroes', (node) => node.writeZeroes(offset, length, options));
  }

  async discard(offset: number, length: number): Promise<void> {
    await this.submit(offset, length, 'discard', (node) => node.discard(offset, length));
  }

  async flush(): Promise<void> {
    await this.submit(0, 0, null, (node) => node.flush());
  }

  /** Allocation status of the attached node's own layer. */
  async blockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    return this.submit(offset, length, null, (node) => node.blockStatus(offset, length));
  }

  /** Detaches from the node, dropping the permissions (the backend is unusable afterwards). */
  detach(): void {
    if (!this.edge) return;
    const edge = this.edge;
    this.graph.detach(edge);
    this.edge = null;
  }

  /**
   * Checks a request, runs the before-notifiers, waits while the node is drained, then
   * issues the request in the same synchronous step as the last drain check, so a drained
   * section that begins can never miss it.
   */
  private async submit<T>(
    offset: number,
    length: number,
    kind: WriteRequest['kind'] | null,
    op: (node: BlockNode) => Promise<T>,
  ): Promise<T> {
    const node = this.node;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new BlockError('invalid-argument', `Invalid request: offset ${offset}, length ${length}`);
    }
    if (kind && !this.claim.perm.has('write')) {
      throw new BlockError('read-only', 'Block backend does not hold the write permission');
    }
    if (offset + length > node.length) {
      throw new BlockError(
        'out-of-range',
        `Request [${offset}, ${offset + length}) is past the end (${node.length} bytes)`,
      );
    }
    const request: WriteRequest | null = kind ? { kind, offset, length } : null;
    if (request) for (const notifier of this.notifiers) await notifier.before?.(request);
    let target = this.node;
    while (target.quiesceCount > 0) {
      await target.whenNotQuiesced();
      target = this.node;
    }
    const result = await op(target);
    if (request) for (const notifier of this.notifiers) notifier.after?.(request);
    return result;
  }
}
