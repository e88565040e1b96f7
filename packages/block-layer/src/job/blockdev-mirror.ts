import { defaultGranularity } from '../bitmap/bitmap-commands.js';
import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import type { OnErrorPolicy } from './block-job.js';
import type { JobManager } from './job-manager.js';
import type { JobTxn } from './job-txn.js';
import { applySpeedCheck, initialSpeed } from './speed.js';
import { type MirrorCopyMode, MirrorJob, type MirrorJobOptions, type MirrorSync } from './mirror-job.js';

/** Arguments of `blockdev-mirror` (QAPI names). */
export interface BlockdevMirrorArgs {
  'job-id'?: string;
  device: string;
  target: string;
  replaces?: string;
  sync: MirrorSync | 'incremental' | 'bitmap';
  speed?: number;
  granularity?: number;
  'buf-size'?: number;
  'on-source-error'?: OnErrorPolicy;
  'on-target-error'?: OnErrorPolicy;
  'filter-node-name'?: string;
  'copy-mode'?: MirrorCopyMode;
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
}

const MIN_GRANULARITY = 512;
const MAX_GRANULARITY = 64 << 20;

/** Checks `granularity` with QEMU's messages, in QEMU's order. */
export function checkGranularity(granularity: number): void {
  if (!Number.isSafeInteger(granularity) || granularity < MIN_GRANULARITY || granularity > MAX_GRANULARITY) {
    throw new BlockError('invalid-argument', "Parameter 'granularity' expects a value in range [512B, 64MB]");
  }
  if ((granularity & (granularity - 1)) !== 0) {
    throw new BlockError('invalid-argument', "Parameter 'granularity' expects a power of 2");
  }
}

/**
 * The job id QEMU takes when none is given: the device name of a backend attached to the
 * node, or '' (refused as a job id) for a node without one, such as one added by blockdev-add.
 */
export function defaultJobId(node: BlockNode): string {
  for (const edge of node.parents) {
    const name = (edge.parent as { kind: string; name?: unknown }).name;
    if (edge.parent.kind === 'backend' && typeof name === 'string' && name !== '') return name;
  }
  return '';
}

/** A node without node parents (backends and jobs may use it). */
export function isRootNode(node: BlockNode): boolean {
  return !node.parents.some((edge) => edge.parent.kind === 'node');
}

/**
 * `blockdev-mirror`: validates with QEMU's messages, creates the job (`created`), inserts
 * the `mirror_top` filter and starts it (`running`). A failed set-up ends the job at once
 * and is returned as the command's error; the graph is left as it was.
 */
export async function blockdevMirror(
  graph: BlockGraph,
  jobs: JobManager,
  args: BlockdevMirrorArgs,
): Promise<MirrorJob> {
  const job = await prepareMirror(graph, jobs, args);
  job.start();
  return job;
}

/**
 * The first half of `blockdev-mirror`: checks, creates the job and sets the graph up, but
 * does not start it (a transaction starts it in its commit step). On failure the job is
 * gone and the graph is as before.
 */
export async function prepareMirror(
  graph: BlockGraph,
  jobs: JobManager,
  args: BlockdevMirrorArgs,
  txn?: JobTxn,
): Promise<MirrorJob> {
  const source = graph.require(args.device);
  const target = graph.require(args.target);
  if (args.sync === 'incremental' || args.sync === 'bitmap') {
    throw new BlockError('invalid-argument', `Sync mode '${args.sync}' not supported`);
  }
  if (args.sync !== 'full' && args.sync !== 'top' && args.sync !== 'none') {
    throw new BlockError('invalid-argument', `Parameter 'sync' does not accept value '${String(args.sync)}'`);
  }
  if (!isRootNode(source)) throw new BlockError('invalid-argument', 'Need a root block node');
  if (source === target) {
    throw new BlockError('invalid-argument', `Can't mirror node into itself`);
  }
  if (args.granularity !== undefined) checkGranularity(args.granularity);
  if (args['buf-size'] !== undefined && (!Number.isSafeInteger(args['buf-size']) || args['buf-size'] < 0)) {
    throw new BlockError('invalid-argument', "Invalid parameter 'buf-size'");
  }
  let replaces: BlockNode | null = null;
  if (args.replaces !== undefined) {
    replaces = graph.find(args.replaces) ?? null;
    if (!replaces) throw new BlockError('not-found', `Node name '${args.replaces}' not found`);
    if (replaces.length !== source.length) {
      throw new BlockError('invalid-argument', 'Replaced node and source have different sizes');
    }
  }
  for (const node of [source, target]) {
    const blocker = [...node.blockers.entries()].find(([owner]) => !isBackingLink(owner));
    if (blocker) throw new BlockError('busy', `Node '${node.name}' is busy: ${blocker[1]}`);
  }
  const id = args['job-id'] ?? defaultJobId(source);
  jobs.checkId(id);
  const options: MirrorJobOptions = {
    graph,
    id,
    source,
    target,
    sync: args.sync,
    granularity: args.granularity ?? defaultGranularity(target),
    speed: initialSpeed(args.speed),
    copyMode: args['copy-mode'] ?? 'background',
    onSourceError: args['on-source-error'] ?? 'report',
    onTargetError: args['on-target-error'] ?? 'report',
    autoFinalize: args['auto-finalize'] ?? true,
    autoDismiss: args['auto-dismiss'] ?? true,
  };
  if (args['buf-size']) options.bufSize = args['buf-size'];
  if (args['filter-node-name'] !== undefined) options.filterNodeName = args['filter-node-name'];
  if (txn) options.txn = txn;
  const job = jobs.create(new MirrorJob(options));
  if (replaces) job.setReplaces(replaces);
  try {
    applySpeedCheck(args.speed);
    await job.setUp();
  } catch (error) {
    await job.earlyFail();
    throw error;
  }
  return job;
}

/** Backing links block their child against deletion, not against jobs. */
function isBackingLink(owner: object): boolean {
  return (owner as { role?: unknown }).role === 'backing';
}
