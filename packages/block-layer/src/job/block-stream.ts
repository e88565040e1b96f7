import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import type { OnErrorPolicy } from './block-job.js';
import type { JobManager } from './job-manager.js';
import { applySpeedCheck, initialSpeed } from './speed.js';
import { StreamJob } from './stream-job.js';

/** Arguments of `block-stream` (the node-name forms). */
export interface BlockStreamArgs {
  'job-id'?: string;
  device: string;
  'base-node'?: string;
  'backing-file'?: string;
  speed?: number;
  'on-error'?: OnErrorPolicy;
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
}

/**
 * `block-stream`: checks the arguments with QEMU's messages, creates the job (event
 * `created`), sets the graph up and starts it (`running`). A set-up failure after
 * creation ends the job at once (`created → null`) and is returned as the command's error.
 */
export async function blockStream(
  graph: BlockGraph,
  jobs: JobManager,
  args: BlockStreamArgs,
): Promise<StreamJob> {
  const device = graph.require(args.device);
  let base: BlockNode | null = null;
  if (args['base-node'] !== undefined) {
    base = graph.find(args['base-node']) ?? null;
    if (!base) {
      throw new BlockError('not-found', `Cannot find device='' nor node-name='${args['base-node']}'`);
    }
    if (!chainContains(device.backing, base)) {
      throw new BlockError(
        'invalid-argument',
        `Node '${base.name}' is not a backing image of '${device.name}'`,
      );
    }
  }
  if (args['backing-file'] !== undefined && !base) {
    throw new BlockError('invalid-argument', 'backing file specified, but streaming the entire chain');
  }
  const blocker = device.blockers.values().next();
  if (!blocker.done) throw new BlockError('busy', `Node '${device.name}' is busy: ${blocker.value}`);
  // Without a job id QEMU uses the device name of a backend; nodes added by blockdev-add have none.
  const id = args['job-id'] ?? '';
  jobs.checkId(id);
  const options: ConstructorParameters<typeof StreamJob>[0] = {
    graph,
    id,
    device,
    base,
    speed: initialSpeed(args.speed),
    onError: args['on-error'] ?? 'report',
    autoFinalize: args['auto-finalize'] ?? true,
    autoDismiss: args['auto-dismiss'] ?? true,
  };
  if (args['backing-file'] !== undefined) options.backingFile = args['backing-file'];
  const job = jobs.create(new StreamJob(options));
  try {
    applySpeedCheck(args.speed);
    await job.setUp();
  } catch (error) {
    await job.earlyFail();
    throw error;
  }
  job.start();
  return job;
}

function chainContains(from: BlockNode | null, target: BlockNode): boolean {
  for (let n = from; n; n = n.backing) if (n === target) return true;
  return false;
}
