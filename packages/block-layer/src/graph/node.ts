import type { BlockStatusExtent } from '@strata/image-format';
import type { BdrvDirtyBitmap } from '../bitmap/dirty-bitmap.js';
import { BlockError, toBlockError } from '../errors.js';
import { RequestTracker } from '../io/request-tracker.js';
import type { BlockEdge, BlockUser } from './edge.js';
import type { PermissionClaim } from './permissions.js';

/** The `image` member of a `query-named-block-nodes` entry (fields this layer knows). */
export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'cluster-size'?: number;
  'dirty-flag'?: boolean;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

/** Zero-copy write options shared by the write-zeroes paths. */
export interface WriteZeroesOptions {
  /** The driver may deallocate instead of writing zeroes (QEMU's BDRV_REQ_MAY_UNMAP). */
  mayUnmap?: boolean;
}

/**
 * A node of the block graph: one driver instance (a host file, a format layer over its
 * `file` child, a filter, ...) with its children by role. Public I/O methods check bounds
 * and read-only state, count the request in flight (so drain can wait for it), and record
 * writes in the node's dirty bitmaps; drivers implement the protected `do*` methods.
 */
export abstract class BlockNode implements BlockUser {
  readonly kind = 'node' as const;
  /** The QMP driver name (`file`, `qcow2`, `raw`, `null-co`, `mirror_top`, ...). */
  abstract readonly driver: string;
  /** Format and protocol nodes can take a backing child only if their format allows it. */
  readonly supportsBacking: boolean = false;
  /** Filters pass I/O through to one child and are skipped when looking for data. */
  readonly isFilter: boolean = false;

  readonly children: BlockEdge[] = [];
  /** Users of this node, newest first (the order QEMU checks them in). */
  readonly parents: BlockEdge[] = [];
  /** Dirty bitmaps, newest first. */
  readonly bitmaps: BdrvDirtyBitmap[] = [];
  readonly requests = new RequestTracker();
  /** Reasons other operations are refused on this node (QEMU's op blockers), by owner. */
  readonly blockers = new Map<object, string>();
  /** Added by the user (blockdev-add) rather than opened implicitly as a child. */
  monitorOwned = false;
  /** Nonzero while inside at least one drained section. */
  quiesceCount = 0;
  private quiesceWaiters: Array<() => void> = [];

  protected constructor(
    public name: string,
    public readOnly: boolean,
  ) {}

  /** Guest-visible length in bytes. */
  abstract get length(): number;

  /** What this node needs from, and tolerates on, the child behind `edge`. */
  abstract childClaim(edge: BlockEdge, cumulative: PermissionClaim): PermissionClaim;

  /** QEMU's `file`/`filename` string for this node. */
  abstract get filename(): string;

  protected abstract doRead(buf: Uint8Array, offset: number): Promise<void>;
  protected abstract doWrite(buf: Uint8Array, offset: number): Promise<void>;
  protected abstract doWriteZeroes(
    offset: number,
    length: number,
    options: WriteZeroesOptions,
  ): Promise<void>;
  protected abstract doDiscard(offset: number, length: number): Promise<void>;
  protected abstract doFlush(): Promise<void>;
  /** Allocation status of this layer alone. */
  protected abstract doBlockStatus(offset: number, length: number): Promise<BlockStatusExtent[]>;

  protected async doResize(_size: number): Promise<void> {
    throw new BlockError('invalid-argument', `Node '${this.name}' does not support resizing`);
  }

  /** Switches the node (and what it owns below, if implicit) between read-only and read-write. */
  async reopen(readOnly: boolean): Promise<void> {
    this.readOnly = readOnly;
  }

  /** Releases what the driver holds (files, image drivers). Children are closed by the graph. */
  async close(): Promise<void> {}

  /** The `image` member of this node's query entry. */
  abstract imageInfo(): ImageInfo;

  describe(): string {
    return `node '${this.name}'`;
  }

  /** Whether requests past the end are refused (protocol nodes grow instead). */
  protected get boundsChecked(): boolean {
    return true;
  }

  child(role: string): BlockEdge | undefined {
    return this.children.find((c) => c.role === role);
  }

  /** The backing node, when this node has one. */
  get backing(): BlockNode | null {
    return this.child('backing')?.child ?? null;
  }

  /** The node filters pass through to, or the `file` child of a format node. */
  get file(): BlockNode | null {
    return this.child('file')?.child ?? null;
  }

  // ---- I/O -------------------------------------------------------------------------

  async read(buf: Uint8Array, offset: number): Promise<void> {
    this.checkRequest(offset, buf.length, false);
    await this.requests.run(() => this.guard(() => this.doRead(buf, offset)));
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.checkRequest(offset, buf.length, true);
    await this.requests.run(() => this.recorded(offset, buf.length, () => this.doWrite(buf, offset)));
  }

  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions = {}): Promise<void> {
    this.checkRequest(offset, length, true);
    await this.requests.run(() =>
      this.recorded(offset, length, () => this.doWriteZeroes(offset, length, options)),
    );
  }

  async discard(offset: number, length: number): Promise<void> {
    this.checkRequest(offset, length, true);
    await this.requests.run(() => this.recorded(offset, length, () => this.doDiscard(offset, length)));
  }

  async flush(): Promise<void> {
    await this.requests.run(() => this.guard(() => this.doFlush()));
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatusExtent[]> {
    this.checkRequest(offset, length, false);
    if (length === 0) return [];
    return this.requests.run(() => this.guard(() => this.doBlockStatus(offset, length)));
  }

  async resize(size: number): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new BlockError('invalid-argument', `Parameter 'size' expects a non-negative value`);
    }
    if (this.readOnly) throw new BlockError('read-only', 'Block node is read-only');
    await this.requests.run(() => this.guard(() => this.doResize(size)));
    for (const bitmap of this.bitmaps) bitmap.store.resize(size);
  }

  /** Resolves when the node is not (or no longer) inside a drained section. */
  whenNotQuiesced(): Promise<void> {
    if (this.quiesceCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.quiesceWaiters.push(resolve));
  }

  /** Called by drain; not for general use. */
  endQuiesce(): void {
    if (this.quiesceCount > 0) this.quiesceCount--;
    if (this.quiesceCount === 0) for (const wake of this.quiesceWaiters.splice(0)) wake();
  }

  private checkRequest(offset: number, length: number, writing: boolean): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new BlockError('invalid-argument', `Invalid request: offset ${offset}, length ${length}`);
    }
    if (writing && this.readOnly) throw new BlockError('read-only', 'Block node is read-only');
    if (this.boundsChecked && offset + length > this.length) {
      throw new BlockError(
        'out-of-range',
        `Request [${offset}, ${offset + length}) is past the end of node '${this.name}' (${this.length} bytes)`,
      );
    }
  }

  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (cause) {
      throw toBlockError(cause);
    }
  }

  /** Runs a modifying request and records it in every bitmap, even if it failed part-way. */
  private async recorded(offset: number, length: number, op: () => Promise<void>): Promise<void> {
    try {
      await this.guard(op);
    } finally {
      for (const bitmap of this.bitmaps) bitmap.markWrite(offset, length);
    }
  }
}
