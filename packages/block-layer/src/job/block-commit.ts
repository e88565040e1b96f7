import { defaultGranularity } from '../bitmap/bitmap-commands.js';
import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import type { OnErrorPolicy } from './block-job.js';
import { CommitJob, type CommitJobOptions } from './commit-job.js';
import { defaultJobId } from './blockdev-mirror.js';
import type { JobManager } from './job-manager.js';
import { MirrorJob, type MirrorJobOptions } from './mirror-job.js';
import { applySpeedCheck, initialSpeed } from './speed.js';

/** Arguments of `block-commit` (QAPI names; `top`/`base` are the deprecated file-name forms). */
export interface BlockCommitArgs {
  'job-id'?: string;
  device: string;
  'base-node'?: string;
  base?: string;
  'top-node'?: string;
  top?: string;
  'backing-file'?: string;
  speed?: number;
  'on-error'?: OnErrorPolicy;
  'filter-node-name'?: string;
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
}

/** Skips filters downwards (QEMU looks through them to find the active layer). */
function unfiltered(node: BlockNode): BlockNode {
  let n = node;
  for (let depth = 0; n.isFilter && depth < 64; depth++) {
    const next = n.backing ?? n.file;
    if (!next) break;
    n = next;
  }
  return n;
}

function chainBelow(node: BlockNode): BlockNode[] {
  const chain: BlockNode[] = [];
  for (let n = node.backing; n; n = n.backing) chain.push(n);
  return chain;
}

function pick(
  graph: BlockGraph,
  chain: readonly BlockNode[],
  byNode: string | undefined,
  byFile: string | undefined,
  role: 'top' | 'base',
): BlockNode | null {
  if (byNode !== undefined && byFile !== undefined) {
    throw new BlockError('invalid-argument', `'${role}-node' and '${role}' are mutually exclusive`);
  }
  if (byNode !== undefined) {
    const node = graph.find(byNode);
    if (!node) throw new BlockError('not-found', `Cannot find device='' nor node-name='${byNode}'`);
    return node;
  }
  if (byFile !== undefined) {
    const node = chain.find((n) => n.filename === byFile);
    if (!node) throw new BlockError('not-found', `Top image file ${byFile} not found`);
    return node;
  }
  return null;
}

/**
 * `block-commit`: chooses top and base with QEMU's checks and messages, then starts either
 * an intermediate commit ({@link CommitJob}, ends by itself) or, when top is the active
 * layer, an active commit ({@link MirrorJob} of type `commit`: READY, then complete pivots
 * to base or cancel keeps top active).
 */
export async function blockCommit(
  graph: BlockGraph,
  jobs: JobManager,
  args: BlockCommitArgs,
): Promise<CommitJob | MirrorJob> {
  const device = graph.find(args.device);
  if (!device) {
    throw new BlockError('not-found', `Device '${args.device}' not found`, { qmpClass: 'DeviceNotFound' });
  }
  const active = unfiltered(device);
  const wholeChain = [active, ...chainBelow(active)];
  const top = pick(graph, wholeChain, args['top-node'], args.top, 'top') ?? active;
  if (!top.backing) throw new BlockError('invalid-argument', 'There is no backimg image');
  const below = chainBelow(top);
  const base = pick(graph, below, args['base-node'], args.base, 'base') ?? below[below.length - 1]!;
  if (top === base) throw new BlockError('invalid-argument', 'cannot commit an image into itself');
  if (!below.includes(base)) {
    throw new BlockError('invalid-argument', `'${base.name}' is not in this backing file chain`);
  }
  if (!wholeChain.includes(top)) {
    throw new BlockError('invalid-argument', `'${top.name}' is not in this backing file chain`);
  }
  for (const node of [top, ...below.slice(0, below.indexOf(base) + 1)]) {
    for (const [owner, reason] of node.blockers) {
      if ((owner as { role?: unknown }).role === 'backing') continue;
      throw new BlockError('busy', `Node '${node.name}' is busy: ${reason}`);
    }
  }
  const id = args['job-id'] ?? defaultJobId(device);
  const common = {
    graph,
    id,
    speed: initialSpeed(args.speed),
    autoFinalize: args['auto-finalize'] ?? true,
    autoDismiss: args['auto-dismiss'] ?? true,
  };
  if (top === active) {
    if (args['backing-file'] !== undefined) {
      throw new BlockError('invalid-argument', "'backing-file' specified, but 'top' is the active layer");
    }
    const options: MirrorJobOptions = {
      ...common,
      source: top,
      target: base,
      sync: 'full',
      granularity: defaultGranularity(base),
      commitBase: base,
      onSourceError: args['on-error'] ?? 'report',
      onTargetError: args['on-error'] ?? 'report',
    };
    if (args['filter-node-name'] !== undefined) options.filterNodeName = args['filter-node-name'];
    return start(jobs, new MirrorJob(options), args.speed);
  }
  const options: CommitJobOptions = { ...common, top, base, onError: args['on-error'] ?? 'report' };
  if (args['backing-file'] !== undefined) options.backingFile = args['backing-file'];
  if (args['filter-node-name'] !== undefined) options.filterNodeName = args['filter-node-name'];
  return start(jobs, new CommitJob(options), args.speed);
}

async function start<T extends CommitJob | MirrorJob>(
  jobs: JobManager,
  job: T,
  speed: number | undefined,
): Promise<T> {
  jobs.create(job);
  try {
    applySpeedCheck(speed);
    await job.setUp();
  } catch (error) {
    await job.earlyFail();
    throw error;
  }
  job.start();
  return job;
}
