import { BdrvDirtyBitmap } from '../bitmap/dirty-bitmap.js';
import { BlockCopy, CopyFailure } from '../copy/block-copy.js';
import { chainAllocation, forEachAllocatedAbove } from '../copy/chain-allocation.js';
import { MirrorTopFilter } from '../drivers/mirror-top.js';
import { BlockError } from '../errors.js';
import type { BlockNode } from '../graph/node.js';
import { EVERY_PERMISSION, type PermissionClaim, perms } from '../graph/permissions.js';
import { type DrainedSection, drain, drained } from '../io/drain.js';
import { Transaction } from '../transaction/transaction.js';
import { BlockJob, type BlockJobOptions, type OnErrorPolicy } from './block-job.js';
import type { JobType } from './job.js';
import { SLICE_MS } from './rate-limiter.js';

/** QMP's MirrorSyncMode values a mirror accepts. */
export type MirrorSync = 'full' | 'top' | 'none';

/** QMP's MirrorCopyMode. */
export type MirrorCopyMode = 'background' | 'write-blocking';

/** Default `buf-size`: 16 requests of 1 MiB. */
export const MIRROR_DEFAULT_BUF_SIZE = 16 << 20;
/** At most this many copy requests are in flight. */
export const MIRROR_MAX_IN_FLIGHT = 16;
const MIN_REQUEST = 1 << 20;

/** Options of a {@link MirrorJob}. */
export interface MirrorJobOptions extends BlockJobOptions {
  source: BlockNode;
  target: BlockNode;
  sync: MirrorSync;
  /** Bytes per dirty bit and per copy unit (a power of two in [512, 64 MiB]). */
  granularity: number;
  bufSize?: number;
  copyMode?: MirrorCopyMode;
  /** Name of the inserted filter; without one it is implicit. */
  filterNodeName?: string;
  onSourceError?: OnErrorPolicy;
  onTargetError?: OnErrorPolicy;
  /**
   * Active commit: the job type is `commit`, the target is a backing node of the source
   * (`base`), only what lies above it is copied, and the nodes between are left out of the
   * graph when it pivots.
   */
  commitBase?: BlockNode;
}

/**
 * QEMU's mirror job (`blockdev-mirror`), also the engine of active commit: a `mirror_top`
 * filter goes above the source so every writer passes through it; the job copies what its
 * dirty bitmap marks to the target until nothing is dirty, nothing is in flight and the
 * target flushed, then goes `ready` and keeps the target in sync. `complete` pivots every
 * user of the source (or of `replaces`) to the target; a soft cancel while ready ends
 * without pivot, leaving the target a consistent copy; any other cancel aborts.
 */
export class MirrorJob extends BlockJob {
  readonly type: JobType;
  readonly source: BlockNode;
  readonly target: BlockNode;
  readonly sync: MirrorSync;
  readonly granularity: number;
  readonly copyMode: MirrorCopyMode;
  readonly commitBase: BlockNode | null;
  protected override readonly supportsComplete = true;
  private readonly bufSize: number;
  private readonly filterNodeName: string | undefined;
  private readonly onSourceError: OnErrorPolicy;
  private readonly onTargetError: OnErrorPolicy;
  private filter: MirrorTopFilter | null = null;
  private dirty: BdrvDirtyBitmap | null = null;
  private copy: BlockCopy | null = null;
  private shouldComplete = false;
  private replaces: BlockNode | null = null;
  private section: DrainedSection | null = null;
  private baseWasReadOnly = false;
  /** Write-blocking mode: since ready, every guest write reached the target too. */
  activelySynced = false;

  constructor(options: MirrorJobOptions) {
    super(options);
    this.commitBase = options.commitBase ?? null;
    this.type = this.commitBase ? 'commit' : 'mirror';
    this.source = options.source;
    this.target = options.target;
    this.sync = options.sync === 'top' && !options.source.backing ? 'full' : options.sync;
    this.granularity = options.granularity;
    const bufSize = options.bufSize ?? MIRROR_DEFAULT_BUF_SIZE;
    this.bufSize = Math.ceil(Math.max(bufSize, this.granularity) / this.granularity) * this.granularity;
    this.copyMode = options.copyMode ?? 'background';
    this.filterNodeName = options.filterNodeName;
    this.onSourceError = options.onSourceError ?? 'report';
    this.onTargetError = options.onTargetError ?? 'report';
  }

  /** The inserted filter while the job runs. */
  get filterNode(): MirrorTopFilter | null {
    return this.filter;
  }

  /**
   * Sets the graph up: the filter above the source, the job's claims on source and target
   * (and on the nodes an active commit skips), the dirty bitmap. Undone on any failure.
   */
  async setUp(): Promise<void> {
    const graph = this.graph;
    const tran = new Transaction();
    const base = this.commitBase;
    try {
      if (base?.readOnly) {
        this.baseWasReadOnly = true;
        await graph.reopen(base, false);
      }
      const name = graph.nameFor(this.filterNodeName);
      const filter = new MirrorTopFilter(name, false, this.filterNodeName === undefined);
      graph.register(filter, { monitorOwned: false });
      tran.add({ abort: () => graph.unregister(filter) });
      graph.attachChild(filter, this.source, 'backing', tran);
      graph.replaceNode(this.source, filter, tran, (edge) => edge.parent === filter);
      this.filter = filter;
      tran.add({
        abort: () => {
          this.filter = null;
        },
      });
      this.addNode(this.source, 'source', { perm: perms('consistent-read'), shared: EVERY_PERMISSION });
      this.addNode(this.target, 'target', this.targetClaim());
      if (base) {
        for (let n = this.source.backing; n && n !== base; n = n.backing) {
          this.addNode(n, 'intermediate node', {
            perm: perms(),
            shared: perms('consistent-read', 'write', 'write-unchanged', 'graph-mod'),
          });
        }
      }
    } catch (error) {
      this.releaseNodes();
      tran.abort();
      if (this.baseWasReadOnly && base) await graph.reopen(base, true).catch(() => undefined);
      throw error;
    }
    tran.commit();
    if (base) this.setChainFrozen(true);
    const dirty = BdrvDirtyBitmap.create(null, this.granularity, this.source.length);
    dirty.enabled = this.copyMode === 'background';
    this.source.bitmaps.unshift(dirty);
    this.dirty = dirty;
    const maxChunk = Math.max(this.bufSize / MIRROR_MAX_IN_FLIGHT, MIN_REQUEST);
    this.copy = new BlockCopy({
      source: this.source,
      target: () => this.target,
      bitmap: dirty.store,
      maxChunk: Math.ceil(maxChunk / this.granularity) * this.granularity,
      maxInFlight: MIRROR_MAX_IN_FLIGHT,
    });
    if (this.copyMode === 'write-blocking') this.filterNode!.active = this.activeHooks(this.copy);
  }

  /** Mirror: nobody else writes, resizes or reads the target; commit: only resizing is refused. */
  private targetClaim(): PermissionClaim {
    if (this.commitBase) {
      return {
        perm: perms('write', 'resize'),
        shared: perms('consistent-read', 'write', 'write-unchanged', 'graph-mod'),
      };
    }
    return { perm: perms('write', 'resize'), shared: perms('write-unchanged') };
  }

  protected async run(): Promise<void> {
    const copy = this.copy;
    if (!copy) throw new BlockError('invalid-argument', 'Mirror job was not set up');
    await this.matchLengths();
    if (this.isCancelled) return;
    await this.markInitialDirty(copy);
    let delay = 0;
    for (;;) {
      const failure = copy.takeFailure();
      if (failure && this.handleFailure(failure) === 'report') {
        await copy.waitIdle();
        throw failure.cause instanceof Error ? failure.cause : failure;
      }
      await this.sleep(delay);
      delay = 0;
      if (this.isCancelled) {
        await copy.waitIdle();
        return;
      }
      this.accountProgress(copy);
      const remaining = copy.remaining;
      this.progressTotal = this.progressCurrent + remaining + copy.inFlightBytes;
      if (remaining > 0 || copy.inFlight > 0) {
        let launched = 0;
        for (let bytes = copy.launchNext(); bytes > 0; bytes = copy.launchNext()) launched += bytes;
        await copy.waitForAny();
        this.accountProgress(copy);
        if (launched > 0) delay = this.limiter.account(launched);
        continue;
      }
      // Nothing dirty, nothing in flight.
      if (!this.isReady) {
        if (!(await this.flushTarget())) continue;
        if (this.copyMode === 'write-blocking') this.activelySynced = true;
        this.transitionToReady();
      }
      if (this.shouldComplete || (this.cancelRequested && !this.isCancelled)) {
        const section = await drain(this.graph, [this.source]);
        if (copy.remaining === 0 && copy.inFlight === 0 && (await this.flushTarget())) {
          this.section = section;
          return;
        }
        section.end();
        continue;
      }
      delay = SLICE_MS;
    }
  }

  private accounted = 0;

  /** Progress counts every byte written to the target, again when a range got dirty again. */
  private accountProgress(copy: BlockCopy): void {
    this.progressCurrent += copy.bytesDone - this.accounted;
    this.accounted = copy.bytesDone;
  }

  /** Active commit may grow the base; a mirror refuses targets of another size. */
  private async matchLengths(): Promise<void> {
    if (this.source.length === this.target.length) return;
    if (this.commitBase && this.target.length < this.source.length) {
      await this.target.resize(this.source.length);
      return;
    }
    throw new BlockError('invalid-argument', 'Source and target image have different sizes');
  }

  private async markInitialDirty(copy: BlockCopy): Promise<void> {
    const mark = (offset: number, length: number) => copy.markDirty(offset, length);
    if (this.commitBase) {
      await forEachAllocatedAbove(this.source, this.commitBase, mark);
      return;
    }
    if (this.sync === 'none') return;
    if (this.sync === 'top') {
      await forEachAllocatedAbove(this.source, this.source.backing, mark);
      return;
    }
    const length = this.source.length;
    if (length === 0) return;
    // A target that already reads as zeroes only needs what the source chain holds.
    const targetState = await chainAllocation(this.target, 0, length);
    if (targetState.status === 'zero' && targetState.length >= length) {
      await forEachAllocatedAbove(this.source, null, mark);
    } else copy.markDirty(0, length);
  }

  private async flushTarget(): Promise<boolean> {
    try {
      await this.target.flush();
      return true;
    } catch (error) {
      const action = this.errorAction(this.onTargetError, false, error);
      if (action === 'report') throw error;
      return false;
    }
  }

  private handleFailure(failure: CopyFailure): 'report' | 'retry' {
    const policy = failure.isRead ? this.onSourceError : this.onTargetError;
    const action = this.errorAction(policy, failure.isRead, failure.cause);
    return action === 'report' ? 'report' : 'retry';
  }

  /** Write-blocking mode: guest writes wait for overlapping copies, then reach the target too. */
  private activeHooks(copy: BlockCopy): MirrorTopFilter['active'] {
    const g = this.granularity;
    return {
      before: (offset, length) => copy.hold(offset, length),
      after: async (request, offset, length) => {
        const start = Math.ceil(offset / g) * g;
        const end = Math.min(Math.floor((offset + length) / g) * g, this.source.length);
        try {
          if (request.kind === 'write') await this.target.write(request.data, offset);
          else if (request.kind === 'zeroes') await this.target.writeZeroes(offset, length);
          else {
            // What a discarded range reads as is the source's business: copy it afterwards.
            copy.markDirty(offset, length);
            this.enter();
            return;
          }
          // Whole granules are now equal on both sides; partial ones stay as they were.
          if (end > start) copy.bitmap.reset(start, end - start);
        } catch (error) {
          copy.markDirty(offset, length);
          this.activelySynced = false;
          copy.recordFailure(new CopyFailure(false, offset, length, error));
          this.enter();
        }
      },
    };
  }

  protected override onCancel(force: boolean): boolean {
    // Only a ready mirror has a soft cancel (finish without pivot); anything else aborts.
    return force || !this.isReady;
  }

  protected override onComplete(): void {
    this.shouldComplete = true;
    this.enter();
  }

  /** `block-job-complete` with a `replaces` node chosen at creation. */
  setReplaces(node: BlockNode): void {
    this.replaces = node;
  }

  /** The pivot (only after `complete`): users of the replaced node and of the filter move to the target. */
  protected override async prepare(): Promise<void> {
    if (!this.shouldComplete || this.isCancelled) return;
    this.dropBitmap();
    if (this.commitBase) this.setChainFrozen(false);
    this.releaseNodes();
    const filter = this.filter;
    if (!filter) return;
    const replaced = this.replaces ?? this.source;
    const tran = new Transaction();
    try {
      this.graph.replaceNode(replaced, this.target, tran, (edge) => edge.parent === this.target);
      this.graph.replaceNode(filter, filter.filtered, tran);
      this.graph.unregister(filter, tran);
    } catch (error) {
      tran.abort();
      throw new BlockError(
        'invalid-argument',
        `Can no longer replace '${replaced.name}' by '${this.target.name}': ${(error as Error).message}`,
        { cause: error },
      );
    }
    tran.commit();
    this.filter = null;
  }

  protected override async clean(): Promise<void> {
    this.dropBitmap();
    const filter = this.filter;
    this.filter = null;
    if (filter) {
      filter.active = null;
      this.releaseNodes();
      this.graph.replaceNode(filter, this.source, undefined, (edge) => edge.parent === filter);
      this.graph.unregister(filter);
    }
    const pivoted = !filter;
    if (this.commitBase) {
      this.setChainFrozen(false);
      this.releaseNodes();
      if (pivoted) {
        await this.graph.dropIfUnused(this.source);
      } else if (this.baseWasReadOnly) {
        const base = this.commitBase;
        await drained(this.graph, [base], () => this.graph.reopen(base, true)).catch(() => undefined);
      }
    }
    this.section?.end();
    this.section = null;
  }

  private dropBitmap(): void {
    const dirty = this.dirty;
    if (!dirty) return;
    this.dirty = null;
    const at = this.source.bitmaps.indexOf(dirty);
    if (at >= 0) this.source.bitmaps.splice(at, 1);
  }

  private setChainFrozen(frozen: boolean): void {
    for (let n: BlockNode | null = this.source; n && n !== this.commitBase; n = n.backing) {
      const edge = n.child('backing');
      if (edge) edge.frozen = frozen;
    }
  }
}
