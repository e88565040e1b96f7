import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import { type BlockdevMirrorArgs, blockdevMirror } from './blockdev-mirror.js';
import { openImageTarget } from './image-target.js';
import type { JobManager } from './job-manager.js';
import type { MirrorJob } from './mirror-job.js';

/** Arguments of `drive-mirror`: the target is a file name Strata creates (or opens). */
export interface DriveMirrorArgs extends Omit<BlockdevMirrorArgs, 'target'> {
  target: string;
  /** `qcow2` or `raw`; defaults to the source's format. Never probed. */
  format?: string;
  /** `absolute-paths` (default) creates the image; `existing` opens it. */
  mode?: 'absolute-paths' | 'existing';
  /** Node name of the target node (else an implicit `#block…` name). */
  'node-name'?: string;
}

/**
 * `drive-mirror`: creates the target image (no backing for sync `full`, the source's
 * backing for `top`, the source itself for `none`, as QEMU does) or opens an existing
 * one, adds it as an implicit node and mirrors onto it with `blockdevMirror`. The node is
 * closed when the job ends unless the mirror pivoted onto it (then its new users keep it).
 * On failure the node is closed again; a created file stays, as QEMU leaves it.
 */
export async function driveMirror(
  graph: BlockGraph,
  jobs: JobManager,
  args: DriveMirrorArgs,
): Promise<MirrorJob> {
  if (args.sync === undefined) throw new BlockError('invalid-argument', "Parameter 'sync' is missing");
  const source = graph.require(args.device);
  if (args.sync === 'incremental' || args.sync === 'bitmap') {
    throw new BlockError('invalid-argument', `Sync mode '${args.sync}' not supported`);
  }
  const format = args.format ?? (source.driver === 'raw' ? 'raw' : 'qcow2');
  const sync = args.sync === 'top' && !source.backing ? 'full' : args.sync;
  const backing = sync === 'none' ? source : sync === 'top' ? source.backing : null;
  const targetOptions: Parameters<typeof openImageTarget>[1] = {
    path: args.target,
    format,
    mode: args.mode ?? 'absolute-paths',
    size: source.length,
    backing,
    // The source must stay a root node for the mirror: QEMU links it under the target only
    // at completion, so here the source is only named in the target's header.
    headerOnly: sync === 'none',
  };
  if (args['node-name'] !== undefined) targetOptions.nodeName = args['node-name'];
  const target = await openImageTarget(graph, targetOptions);
  const mirrorArgs: BlockdevMirrorArgs = { ...args, target: target.name };
  for (const key of ['format', 'mode', 'node-name'])
    delete (mirrorArgs as unknown as Record<string, unknown>)[key];
  let job: MirrorJob;
  try {
    job = await blockdevMirror(graph, jobs, mirrorArgs);
  } catch (error) {
    await graph.dropIfUnused(target);
    throw error;
  }
  void job.until((j) => j.status === 'null').then(() => graph.dropIfUnused(target));
  return job;
}
