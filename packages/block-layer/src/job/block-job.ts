import { BlockError } from '../errors.js';
import type { BlockEdge, BlockUser } from '../graph/edge.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import type { PermissionClaim } from '../graph/permissions.js';
import { Job, type JobOptions } from './job.js';
import type { BlockJobProgress } from './job-events.js';
import type { JobStatus } from './job-status.js';
import { RateLimiter } from './rate-limiter.js';

/** QMP's BlockdevOnError: what a job does when a read or write fails. */
export type OnErrorPolicy = 'report' | 'ignore' | 'enospc' | 'stop' | 'auto';

/** The action actually taken for one error. */
export type ErrorAction = 'report' | 'ignore' | 'stop';

/** The job's I/O status (`io-status` in `query-block-jobs`). */
export type JobIoStatus = 'ok' | 'failed' | 'nospace';

/** Options of a block job. */
export interface BlockJobOptions extends JobOptions {
  graph: BlockGraph;
  /** Bytes per second; 0 = unlimited. */
  speed?: number;
  /** Clock for the rate limiter (tests inject one). */
  now?: () => number;
}

/** `query-block-jobs` entry. */
export interface BlockJobInfo {
  type: string;
  device: string;
  len: number;
  offset: number;
  busy: boolean;
  paused: boolean;
  speed: number;
  ready: boolean;
  status: JobStatus;
  'auto-finalize': boolean;
  'auto-dismiss': boolean;
  'io-status': JobIoStatus;
  error?: string;
}

/**
 * A job that works on block nodes: it uses them as a graph user (holding permissions and
 * blocking other operations on them), pauses while they are drained, limits its speed,
 * applies error policies, and sends the BLOCK_JOB_* events.
 */
export abstract class BlockJob extends Job implements BlockUser {
  readonly kind = 'job' as const;
  readonly graph: BlockGraph;
  speed: number;
  ioStatus: JobIoStatus = 'ok';
  protected readonly limiter: RateLimiter;
  private readonly edges: BlockEdge[] = [];
  private readonly blockedNodes: BlockNode[] = [];

  constructor(options: BlockJobOptions) {
    super(options);
    this.graph = options.graph;
    this.speed = options.speed ?? 0;
    this.limiter = new RateLimiter(this.speed, options.now);
  }

  describe(): string {
    return `${this.type} job '${this.id ?? ''}'`;
  }

  drainedBegin(): void {
    this.pause();
  }

  drainedEnd(): void {
    this.resume();
  }

  /**
   * Uses `node` in `role` with `claim`, and blocks other operations on it (QEMU's
   * block_job_add_bdrv). Refused if the node is already used by another job.
   */
  addNode(node: BlockNode, role: string, claim: PermissionClaim): BlockEdge {
    // Only another job excludes this one; a backing link allows stream and commit (QEMU
    // unblocks those operations on backing nodes), and commands check the rest themselves.
    for (const [owner, reason] of node.blockers) {
      if (owner instanceof BlockJob && owner !== this) {
        throw new BlockError('busy', `Node '${node.name}' is busy: ${reason}`);
      }
    }
    const edge = this.graph.attachUser(this, node, role, claim);
    this.edges.push(edge);
    node.blockers.set(this, `block device is in use by block job: ${this.type}`);
    this.blockedNodes.push(node);
    return edge;
  }

  /** Drops every node this job uses (at the end of the job). */
  protected releaseNodes(): void {
    for (const node of this.blockedNodes.splice(0)) node.blockers.delete(this);
    for (const edge of this.edges.splice(0).reverse()) {
      edge.frozen = false;
      try {
        this.graph.detach(edge);
      } catch {
        // The node may already be gone with the graph change the job made.
      }
    }
  }

  /** `block-job-set-speed`. */
  setSpeed(speed: number): void {
    this.checkVerb('set-speed');
    if (!Number.isSafeInteger(speed) || speed < 0) {
      throw new BlockError('invalid-argument', "Parameter 'speed' expects a non-negative value");
    }
    const old = this.speed;
    this.speed = speed;
    this.limiter.setSpeed(speed);
    if (speed && speed <= old) return;
    // A faster limit only matters to a job sleeping off its quota: wake it.
    this.enter(true);
  }

  /** Accounts `bytes` copied and sleeps as long as the speed limit asks (at least a yield). */
  protected async throttle(bytes: number): Promise<void> {
    await this.sleep(this.limiter.account(bytes));
  }

  /** Moves to `ready` and sends BLOCK_JOB_READY (mirror-style jobs). */
  protected transitionToReady(): void {
    this.transition('ready');
    this.emit({ event: 'BLOCK_JOB_READY', data: this.progress() });
  }

  /**
   * Applies an error policy to a failed read or write (QEMU's block_job_error_action):
   * sends BLOCK_JOB_ERROR, and for `stop` pauses the job as if the user had, with the
   * I/O status set until the user resumes.
   */
  errorAction(policy: OnErrorPolicy, isRead: boolean, error: unknown): ErrorAction {
    const nospace = isNoSpace(error);
    let action: ErrorAction;
    switch (policy) {
      case 'enospc':
      case 'auto':
        action = nospace ? 'stop' : 'report';
        break;
      case 'stop':
        action = 'stop';
        break;
      case 'ignore':
        action = 'ignore';
        break;
      default:
        action = 'report';
    }
    if (this.id !== null) {
      this.emit({
        event: 'BLOCK_JOB_ERROR',
        data: { device: this.id, operation: isRead ? 'read' : 'write', action },
      });
    }
    if (action === 'stop') {
      if (!this.userPaused) {
        this.pause();
        this.userPaused = true;
      }
      if (this.ioStatus === 'ok') this.ioStatus = nospace ? 'nospace' : 'failed';
    }
    return action;
  }

  protected override onUserResume(): void {
    this.ioStatus = 'ok';
  }

  protected override onPending(): void {
    if (this.id !== null) this.emit({ event: 'BLOCK_JOB_PENDING', data: { type: this.type, id: this.id } });
  }

  protected override async releaseResources(): Promise<void> {
    this.releaseNodes();
  }

  protected override onFinalized(cancelled: boolean): void {
    if (this.id === null) return;
    if (cancelled) this.emit({ event: 'BLOCK_JOB_CANCELLED', data: this.progress() });
    else {
      const data: BlockJobProgress & { error?: string } = this.progress();
      if (this.error !== null) data.error = this.error;
      this.emit({ event: 'BLOCK_JOB_COMPLETED', data });
    }
  }

  protected progress(): BlockJobProgress {
    return {
      device: this.id ?? '',
      len: this.progressTotal,
      offset: this.progressCurrent,
      speed: this.speed,
      type: this.type,
    };
  }

  /** `query-block-jobs` entry. */
  blockInfo(): BlockJobInfo {
    const info: BlockJobInfo = {
      'auto-finalize': this.autoFinalize,
      'io-status': this.ioStatus,
      device: this.id ?? '',
      'auto-dismiss': this.autoDismiss,
      busy: this.busy,
      len: this.progressTotal,
      offset: this.progressCurrent,
      status: this.status,
      paused: this.pauseCount > 0,
      speed: this.speed,
      ready: this.isReady,
      type: this.type,
    };
    if (this.error !== null) info.error = this.error;
    return info;
  }
}

function isNoSpace(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 8; depth++) {
    if (typeof e === 'object' && e !== null && 'code' in e && (e as { code: unknown }).code === 'ENOSPC') {
      return true;
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}
