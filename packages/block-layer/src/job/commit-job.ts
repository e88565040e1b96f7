import { ArrayBitmapStore } from '../bitmap/bitmap-store.js';
import { BlockCopy } from '../copy/block-copy.js';
import { forEachAllocatedAbove } from '../copy/chain-allocation.js';
import { CommitTopFilter } from '../drivers/commit-top.js';
import { BlockError } from '../errors.js';
import type { BlockNode } from '../graph/node.js';
import { EVERY_PERMISSION, perms } from '../graph/permissions.js';
import { drained } from '../io/drain.js';
import { Transaction } from '../transaction/transaction.js';
import { BlockJob, type BlockJobOptions, type OnErrorPolicy } from './block-job.js';
import type { JobType } from './job.js';

/** Bytes per copy request of an intermediate commit (QEMU's commit buffer). */
export const COMMIT_CHUNK = 512 * 1024;
const COMMIT_IN_FLIGHT = 4;

/** Options of a {@link CommitJob}. */
export interface CommitJobOptions extends BlockJobOptions {
  /** The highest node whose data is committed (not the active layer). */
  top: BlockNode;
  /** The node that receives it; stays below the overlay of `top` afterwards. */
  base: BlockNode;
  /** The backing file string to record in the overlay's header (default: base's file name). */
  backingFile?: string;
  onError?: OnErrorPolicy;
  filterNodeName?: string;
}

/** What a format driver offers for rewriting its header's backing link (qcow2 does). */
interface BackingHeaderRewriter {
  rewriteHeader(
    change: (header: { backingFile: string | null; backingFormat: string | null }) => void,
  ): Promise<void>;
}

/**
 * QEMU's commit of an intermediate layer (`block-commit` with `top` below the active
 * layer): a `commit_top` filter goes above `top`, everything allocated in `top` or between
 * it and `base` is copied into `base`, and at finalize time the overlay above `top` is
 * linked straight to `base` (its header's backing string rewritten) and the committed
 * layers leave the graph. It ends by itself; a cancel leaves the chain as it was (base
 * keeps what was already copied, which the layers above hide).
 */
export class CommitJob extends BlockJob {
  readonly type: JobType = 'commit';
  readonly top: BlockNode;
  readonly base: BlockNode;
  private readonly backingFile: string | undefined;
  private readonly onError: OnErrorPolicy;
  private readonly filterNodeName: string | undefined;
  private filter: CommitTopFilter | null = null;
  private baseWasReadOnly = false;
  private readonly chain: BlockNode[] = [];

  constructor(options: CommitJobOptions) {
    super(options);
    this.top = options.top;
    this.base = options.base;
    this.backingFile = options.backingFile;
    this.onError = options.onError ?? 'report';
    this.filterNodeName = options.filterNodeName;
    for (let n: BlockNode | null = this.top; n && n !== this.base; n = n.backing) this.chain.push(n);
  }

  /** Inserts the filter, claims the chain and the base, freezes the links. Undone on failure. */
  async setUp(): Promise<void> {
    const graph = this.graph;
    const tran = new Transaction();
    try {
      if (this.base.readOnly) {
        this.baseWasReadOnly = true;
        await graph.reopen(this.base, false);
      }
      const filter = new CommitTopFilter(
        graph.nameFor(this.filterNodeName),
        true,
        this.filterNodeName === undefined,
      );
      graph.register(filter, { monitorOwned: false });
      tran.add({ abort: () => graph.unregister(filter) });
      graph.attachChild(filter, this.top, 'backing', tran);
      graph.replaceNode(this.top, filter, tran, (edge) => edge.parent === filter);
      this.filter = filter;
      tran.add({
        abort: () => {
          this.filter = null;
        },
      });
      for (const node of this.chain) {
        this.addNode(node, 'intermediate node', {
          perm: perms('consistent-read'),
          // The layers are only read; writes below them (into base) must stay possible.
          shared: perms('consistent-read', 'write', 'write-unchanged', 'graph-mod'),
        });
      }
      this.addNode(this.base, 'base', {
        perm: perms('write', 'resize'),
        shared: EVERY_PERMISSION,
      });
    } catch (error) {
      this.releaseNodes();
      tran.abort();
      if (this.baseWasReadOnly) await graph.reopen(this.base, true).catch(() => undefined);
      throw error;
    }
    tran.commit();
    this.setChainFrozen(true);
  }

  protected async run(): Promise<void> {
    if (!this.filter) throw new BlockError('invalid-argument', 'Commit job was not set up');
    const length = this.top.length;
    this.progressTotal = length;
    if (this.base.length < length) await this.base.resize(length);
    const bitmap = new ArrayBitmapStore(length < 65536 ? 512 : 65536, length);
    await forEachAllocatedAbove(this.top, this.base, (offset, bytes) => bitmap.set(offset, bytes));
    const copy = new BlockCopy({
      source: this.top,
      target: () => this.base,
      bitmap,
      maxChunk: COMMIT_CHUNK,
      maxInFlight: COMMIT_IN_FLIGHT,
    });
    // Chunks with nothing to commit count as done at once.
    this.progressCurrent = length - bitmap.count();
    let accounted = 0;
    let delay = 0;
    for (;;) {
      const failure = copy.takeFailure();
      if (failure) {
        const action = this.errorAction(this.onError, failure.isRead, failure.cause);
        if (action === 'report') {
          await copy.waitIdle();
          throw failure.cause instanceof Error ? failure.cause : failure;
        }
      }
      await this.sleep(delay);
      delay = 0;
      if (this.isCancelled) {
        await copy.waitIdle();
        return;
      }
      if (copy.remaining === 0 && copy.inFlight === 0) break;
      let launched = 0;
      for (let bytes = copy.launchNext(); bytes > 0; bytes = copy.launchNext()) launched += bytes;
      await copy.waitForAny();
      this.progressCurrent += copy.bytesDone - accounted;
      accounted = copy.bytesDone;
      if (launched > 0) delay = this.limiter.account(launched);
    }
    this.progressCurrent = length;
    await this.base.flush();
  }

  /** Links the overlay to base, rewrites its header, and lets the committed layers go. */
  protected override async prepare(): Promise<void> {
    if (!this.filter) return;
    // Graph edits and reopens happen with no request in flight through the chain.
    await drained(this.graph, [this.base], () => this.linkOverlaysToBase());
  }

  private async linkOverlaysToBase(): Promise<void> {
    const filter = this.filter;
    if (!filter) return;
    this.setChainFrozen(false);
    this.releaseNodes();
    const overlays = filter.parents.filter((edge) => edge.role === 'backing' && edge.parent.kind === 'node');
    this.graph.replaceNode(filter, this.base);
    this.graph.unregister(filter);
    this.filter = null;
    for (const edge of overlays) {
      const overlay = edge.parent as BlockNode;
      const rewriter = imageRewriter(overlay);
      if (!rewriter) continue;
      const wasReadOnly = overlay.readOnly;
      if (wasReadOnly) await this.graph.reopen(overlay, false);
      try {
        await rewriter.rewriteHeader((header) => {
          header.backingFile = this.backingFile ?? this.base.filename;
          header.backingFormat = this.base.driver;
        });
      } finally {
        if (wasReadOnly) await this.graph.reopen(overlay, true).catch(() => undefined);
      }
    }
  }

  protected override async clean(): Promise<void> {
    await drained(this.graph, [this.base], () => this.restoreGraph());
  }

  private async restoreGraph(): Promise<void> {
    this.setChainFrozen(false);
    this.releaseNodes();
    const filter = this.filter;
    this.filter = null;
    if (filter) {
      this.graph.replaceNode(filter, this.top, undefined, (edge) => edge.parent === filter);
      this.graph.unregister(filter);
    } else {
      await this.graph.dropIfUnused(this.top);
    }
    if (this.baseWasReadOnly && this.base.parents.every((e) => e.role === 'backing')) {
      await this.graph.reopen(this.base, true).catch(() => undefined);
    }
  }

  private setChainFrozen(frozen: boolean): void {
    for (const node of this.chain) {
      const edge = node.child('backing');
      if (edge) edge.frozen = frozen;
    }
  }
}

function imageRewriter(node: BlockNode): BackingHeaderRewriter | null {
  const driver = (node as { imageDriver?: unknown }).imageDriver;
  if (driver && typeof (driver as Partial<BackingHeaderRewriter>).rewriteHeader === 'function') {
    return driver as BackingHeaderRewriter;
  }
  return null;
}
