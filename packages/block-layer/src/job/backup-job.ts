import { ArrayBitmapStore } from '../bitmap/bitmap-store.js';
import type { BdrvDirtyBitmap } from '../bitmap/dirty-bitmap.js';
import { BlockCopy } from '../copy/block-copy.js';
import { forEachAllocatedAbove } from '../copy/chain-allocation.js';
import { CopyBeforeWriteFilter } from '../drivers/copy-before-write.js';
import { BlockError } from '../errors.js';
import type { BlockNode } from '../graph/node.js';
import { EVERY_PERMISSION, perms } from '../graph/permissions.js';
import { Transaction } from '../transaction/transaction.js';
import { BlockJob, type BlockJobOptions, type OnErrorPolicy } from './block-job.js';
import type { JobType } from './job.js';

/** QMP's MirrorSyncMode as backup uses it. */
export type BackupSync = 'full' | 'top' | 'none' | 'incremental' | 'bitmap';

/** QMP's BitmapSyncMode: when the user's bitmap is replaced by the writes made since the start. */
export type BitmapSyncMode = 'on-success' | 'never' | 'always';

/** Requests in flight (QEMU runs up to 64 workers) and their largest size. */
export const BACKUP_MAX_WORKERS = 64;
export const BACKUP_MAX_CHUNK = 1 << 20;

/** Options of a {@link BackupJob}. */
export interface BackupJobOptions extends BlockJobOptions {
  source: BlockNode;
  target: BlockNode;
  sync: BackupSync;
  bitmap?: BdrvDirtyBitmap;
  bitmapMode?: BitmapSyncMode;
  onSourceError?: OnErrorPolicy;
  onTargetError?: OnErrorPolicy;
  filterNodeName?: string;
}

/** The backup cluster: the target's cluster size, at least 64 KiB. */
export function backupClusterSize(target: BlockNode): number {
  const cluster = (target as { clusterSize?: unknown }).clusterSize;
  return typeof cluster === 'number' && cluster > 65536 ? cluster : 65536;
}

/**
 * QEMU's backup job: a copy-before-write filter above the source keeps the target a
 * point-in-time image of the source as of the start, while the job copies every cluster
 * its copy bitmap marks (all, the top layer only, or a user bitmap's). With a user bitmap,
 * the bitmap is frozen with a successor recording new writes; at the end it becomes that
 * successor (sync) or gets it merged back, by `bitmap-mode`.
 */
export class BackupJob extends BlockJob {
  readonly type: JobType = 'backup';
  readonly source: BlockNode;
  readonly target: BlockNode;
  readonly sync: BackupSync;
  private readonly bitmap: BdrvDirtyBitmap | null;
  private readonly bitmapMode: BitmapSyncMode;
  private readonly onSourceError: OnErrorPolicy;
  private readonly onTargetError: OnErrorPolicy;
  private readonly filterNodeName: string | undefined;
  private filter: CopyBeforeWriteFilter | null = null;
  private copy: BlockCopy | null = null;
  private succeeded = false;

  constructor(options: BackupJobOptions) {
    super(options);
    this.source = options.source;
    this.target = options.target;
    this.sync = options.sync === 'top' && !options.source.backing ? 'full' : options.sync;
    this.bitmap = options.bitmap ?? null;
    this.bitmapMode = options.bitmapMode ?? 'on-success';
    this.onSourceError = options.onSourceError ?? 'report';
    this.onTargetError = options.onTargetError ?? 'report';
    this.filterNodeName = options.filterNodeName;
  }

  /** The filter while the job runs. */
  get filterNode(): CopyBeforeWriteFilter | null {
    return this.filter;
  }

  /**
   * The point in time: inserts the filter, claims source and target, builds the copy
   * bitmap and freezes the user's bitmap. The caller drains the source around this.
   */
  async setUp(): Promise<void> {
    if (this.source.length !== this.target.length) {
      throw new BlockError('invalid-argument', 'Source and target have different lengths');
    }
    const graph = this.graph;
    const tran = new Transaction();
    try {
      const filter = new CopyBeforeWriteFilter(
        graph.nameFor(this.filterNodeName),
        false,
        this.filterNodeName === undefined,
      );
      graph.register(filter, { monitorOwned: false });
      tran.add({ abort: () => graph.unregister(filter) });
      graph.attachChild(filter, this.source, 'file', tran);
      graph.replaceNode(this.source, filter, tran, (edge) => edge.parent === filter);
      this.filter = filter;
      tran.add({
        abort: () => {
          this.filter = null;
        },
      });
      this.addNode(this.source, 'source', { perm: perms('consistent-read'), shared: EVERY_PERMISSION });
      this.addNode(this.target, 'target', {
        perm: perms('write'),
        shared: perms('consistent-read', 'write-unchanged', 'graph-mod'),
      });
      const store = await this.initialCopyBitmap();
      if (this.bitmap) {
        this.bitmap.createSuccessor();
        tran.add({ abort: () => this.bitmap?.reclaim() });
      }
      this.copy = new BlockCopy({
        source: this.source,
        target: () => this.target,
        bitmap: store,
        maxChunk: BACKUP_MAX_CHUNK,
        maxInFlight: BACKUP_MAX_WORKERS,
      });
      filter.copy = this.copy;
    } catch (error) {
      this.releaseNodes();
      tran.abort();
      throw error;
    }
    tran.commit();
  }

  private async initialCopyBitmap(): Promise<ArrayBitmapStore> {
    const length = this.source.length;
    const store = new ArrayBitmapStore(backupClusterSize(this.target), length);
    if (this.bitmap) {
      const user = this.bitmap.store;
      for (let run = user.nextDirty(0); run; run = user.nextDirty(run.offset + run.length)) {
        store.set(run.offset, run.length);
      }
    } else if (this.sync === 'top') {
      await forEachAllocatedAbove(this.source, this.source.backing, (o, n) => store.set(o, n));
    } else if (length > 0) store.set(0, length);
    return store;
  }

  protected async run(): Promise<void> {
    const copy = this.copy;
    if (!copy) throw new BlockError('invalid-argument', 'Backup job was not set up');
    const total = copy.remaining;
    this.progressTotal = total;
    if (this.sync === 'none') {
      // Fleecing: only copy-before-write works; the job lasts until cancelled.
      while (!this.isCancelled) await this.yield();
      return;
    }
    let delay = 0;
    for (;;) {
      const failure = copy.takeFailure();
      if (failure) {
        const policy = failure.isRead ? this.onSourceError : this.onTargetError;
        if (this.errorAction(policy, failure.isRead, failure.cause) === 'report') {
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
      this.progressCurrent = total - copy.remaining - copy.inFlightBytes;
      if (copy.remaining === 0 && copy.inFlight === 0) break;
      let launched = 0;
      for (let bytes = copy.launchNext(); bytes > 0; bytes = copy.launchNext()) launched += bytes;
      await copy.waitForAny();
      if (launched > 0) delay = this.limiter.account(launched);
    }
    this.progressCurrent = total;
    await this.target.flush();
  }

  protected override onCancel(_force: boolean): boolean {
    return true;
  }

  protected override async commit(): Promise<void> {
    this.succeeded = true;
  }

  protected override async clean(): Promise<void> {
    const filter = this.filter;
    this.filter = null;
    if (filter) {
      filter.copy = null;
      this.releaseNodes();
      this.graph.replaceNode(filter, this.source, undefined, (edge) => edge.parent === filter);
      this.graph.unregister(filter);
    }
    this.settleBitmap();
  }

  /** QEMU's rule: sync = (success or `always`) and not `never`. */
  private settleBitmap(): void {
    const bitmap = this.bitmap;
    if (!bitmap?.successor) return;
    const sync = (this.succeeded || this.bitmapMode === 'always') && this.bitmapMode !== 'never';
    if (!sync) {
      bitmap.reclaim();
      return;
    }
    bitmap.abdicate();
    const left = this.copy?.bitmap;
    if (!this.succeeded && left) {
      // A failed `always` sync still owes what the job did not copy.
      for (let run = left.nextDirty(0); run; run = left.nextDirty(run.offset + run.length)) {
        bitmap.store.set(run.offset, run.length);
      }
    }
  }
}
