import { CopyOnReadFilter } from '../drivers/copy-on-read-filter.js';
import { BlockError } from '../errors.js';
import type { BlockNode } from '../graph/node.js';
import { perms } from '../graph/permissions.js';
import { Transaction } from '../transaction/transaction.js';
import { BlockJob, type BlockJobOptions, type OnErrorPolicy } from './block-job.js';
import type { JobType } from './job.js';

/** Bytes examined per step, as QEMU's stream job. */
export const STREAM_CHUNK = 512 * 1024;

/** Options of a {@link StreamJob}. */
export interface StreamJobOptions extends BlockJobOptions {
  /** The node that receives the data (the top of the chain being shortened). */
  device: BlockNode;
  /** The node that stays below `device`; null streams the whole chain. */
  base: BlockNode | null;
  /** The backing file string to record in `device`'s header (default: base's file name). */
  backingFile?: string;
  onError?: OnErrorPolicy;
}

/** What a format driver offers for rewriting its header's backing link (qcow2 does). */
interface BackingHeaderRewriter {
  rewriteHeader(
    change: (header: { backingFile: string | null; backingFormat: string | null }) => void,
  ): Promise<void>;
}

/**
 * QEMU's stream job (`block-stream`): copies into `device` everything its backing chain
 * above `base` holds that `device` does not, through a copy-on-read filter so concurrent
 * guest writes always win; then, at finalize time, makes `base` the backing of `device`,
 * rewrites `device`'s header to match, and drops the intermediate nodes.
 */
export class StreamJob extends BlockJob {
  readonly type: JobType = 'stream';
  readonly device: BlockNode;
  readonly base: BlockNode | null;
  private readonly backingFile: string | undefined;
  private readonly onError: OnErrorPolicy;
  private filter: CopyOnReadFilter | null = null;
  private readonly intermediates: BlockNode[] = [];
  private wasReadOnly = false;
  private ignoredError = false;
  private readonly graphEdit = new Transaction();

  constructor(options: StreamJobOptions) {
    super(options);
    this.device = options.device;
    this.base = options.base;
    this.backingFile = options.backingFile;
    this.onError = options.onError ?? 'report';
    for (let n = this.device.backing; n && n !== this.base; n = n.backing) this.intermediates.push(n);
  }

  /**
   * Sets the graph up before the job starts: reopens `device` read-write if needed, puts
   * the copy-on-read filter above it, locks the intermediate nodes against writers and
   * freezes the chain's links. Undone exactly when anything fails.
   */
  async setUp(): Promise<void> {
    const graph = this.graph;
    this.wasReadOnly = this.device.readOnly;
    if (this.wasReadOnly) await graph.reopen(this.device, false);
    try {
      const filter = new CopyOnReadFilter(graph.nameFor(undefined), false, true);
      graph.register(filter);
      this.graphEdit.add({ abort: () => graph.unregister(filter) });
      graph.attachChild(filter, this.device, 'file', this.graphEdit);
      graph.replaceNode(this.device, filter, this.graphEdit, (edge) => edge.parent === filter);
      this.addNode(filter, 'stream', {
        perm: perms(),
        shared: perms('consistent-read', 'write', 'write-unchanged', 'resize', 'graph-mod'),
      });
      for (const node of this.intermediates) {
        // Nobody may write or resize what is being copied from.
        this.addNode(node, 'intermediate node', {
          perm: perms(),
          shared: perms('consistent-read', 'write-unchanged', 'graph-mod'),
        });
      }
      this.filter = filter;
    } catch (error) {
      this.graphEdit.abort();
      if (this.wasReadOnly) await graph.reopen(this.device, true).catch(() => undefined);
      throw error;
    }
    this.graphEdit.commit();
    this.setChainFrozen(true);
  }

  protected async run(): Promise<void> {
    const filter = this.filter;
    if (!filter) throw new BlockError('invalid-argument', 'Stream job was not set up');
    const length = this.device.length;
    this.progressTotal = length;
    let delay = 0;
    for (let offset = 0; offset < length; ) {
      await this.sleep(delay);
      if (this.isCancelled) return;
      const chunk = Math.min(STREAM_CHUNK, length - offset);
      const { allocated, bytes } = await this.allocationAboveBase(offset, chunk);
      let copied = 0;
      if (allocated) {
        try {
          copied = await filter.prefetch(offset, bytes);
        } catch (error) {
          const action = this.errorAction(this.onError, true, error);
          if (action === 'report') throw error;
          if (action === 'stop') {
            delay = 0;
            continue; // retried after the user resumes
          }
          this.ignoredError = true;
        }
      }
      offset += bytes;
      this.progressCurrent += bytes;
      delay = copied > 0 ? this.limiter.account(copied) : 0;
    }
  }

  /**
   * Whether [offset, offset+length) is allocated in the layers between `device` (excluded:
   * already there) and `base`, and how long a run shares that answer.
   */
  private async allocationAboveBase(
    offset: number,
    length: number,
  ): Promise<{ allocated: boolean; bytes: number }> {
    const own = (await this.device.blockStatus(offset, length))[0]!;
    if (own.status !== 'unallocated') return { allocated: false, bytes: own.length };
    let bytes = own.length;
    for (const node of this.intermediates) {
      if (offset >= node.length) continue;
      const first = (await node.blockStatus(offset, Math.min(bytes, node.length - offset)))[0]!;
      if (first.status !== 'unallocated') return { allocated: true, bytes: first.length };
      bytes = Math.min(bytes, first.length);
    }
    return { allocated: false, bytes };
  }

  protected override async prepare(): Promise<void> {
    this.setChainFrozen(false);
    // With errors ignored, some data may still live in the intermediates: keep the chain.
    if (this.ignoredError) return;
    this.graph.setBacking(this.device, this.base);
    const rewriter = imageRewriter(this.device);
    if (rewriter) {
      await rewriter.rewriteHeader((header) => {
        header.backingFile = this.base ? (this.backingFile ?? this.base.filename) : null;
        header.backingFormat = this.base ? this.base.driver : null;
      });
    }
  }

  protected override async abort(): Promise<void> {
    this.setChainFrozen(false);
  }

  protected override async clean(): Promise<void> {
    const filter = this.filter;
    if (!filter) return;
    this.filter = null;
    this.releaseNodes();
    this.graph.replaceNode(filter, this.device, undefined, (edge) => edge.parent === filter);
    this.graph.unregister(filter);
    if (this.wasReadOnly) await this.graph.reopen(this.device, true).catch(() => undefined);
    for (const node of this.intermediates) await this.graph.dropIfUnused(node);
  }

  private setChainFrozen(frozen: boolean): void {
    for (let n: BlockNode | null = this.device; n && n !== this.base; n = n.backing) {
      const edge = n.child('backing');
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
