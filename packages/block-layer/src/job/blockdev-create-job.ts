import { type CreateQcow2Options, createQcow2, createRaw } from '@strata/image-format';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { perms } from '../graph/permissions.js';
import { NodeImageFile } from '../io/node-image-file.js';
import { Job, type JobType } from './job.js';
import type { JobManager } from './job-manager.js';

/** `blockdev-create` options for the `file` driver. */
export interface CreateFileOptions {
  driver: 'file';
  filename: string;
  size: number;
  preallocation?: 'off';
}

/** `blockdev-create` options for `raw` over an existing node (sizes the node). */
export interface CreateRawOptions {
  driver: 'raw';
  file: string;
  size: number;
}

/** `blockdev-create` options for `qcow2` (QAPI BlockdevCreateOptionsQcow2, the supported members). */
export interface CreateQcow2NodeOptions {
  driver: 'qcow2';
  /** Node name of the protocol node the image is written into. */
  file: string;
  size: number;
  version?: 'v2' | 'v3';
  'backing-file'?: string;
  'backing-fmt'?: 'qcow2' | 'raw';
  'cluster-size'?: number;
  'lazy-refcounts'?: boolean;
  'refcount-bits'?: number;
  preallocation?: 'off' | 'metadata';
  'compression-type'?: 'zlib' | 'zstd';
}

/** The `options` union of `blockdev-create`. */
export type BlockdevCreateOptions = CreateFileOptions | CreateRawOptions | CreateQcow2NodeOptions;

/**
 * `blockdev-create` as a job (type `create`, a plain job without BLOCK_JOB_* events):
 * creates a host file, or writes a fresh qcow2 image (through @strata/image-format) into
 * an existing protocol node that the job holds with write and resize permission.
 */
export class BlockdevCreateJob extends Job {
  readonly type: JobType = 'create';

  constructor(
    id: string,
    private readonly graph: BlockGraph,
    private readonly options: BlockdevCreateOptions,
  ) {
    // QEMU creates these jobs with auto-dismiss off: the user dismisses them.
    super({ id, autoDismiss: false });
  }

  protected async run(): Promise<void> {
    this.progressTotal = 1;
    const options = this.options;
    if (options.driver === 'file') {
      await createRaw(options.filename, { size: options.size });
    } else {
      await this.withNode(options.file, async (node) => {
        if (options.driver === 'raw') {
          await node.resize(options.size);
          return;
        }
        await createQcow2(new NodeImageFile(() => node), qcow2Options(options));
      });
    }
    this.progressCurrent = 1;
  }

  /** Holds the node exclusively (write and resize) while the image is written into it. */
  private async withNode(name: string, body: (node: BlockNode) => Promise<void>): Promise<void> {
    const node = this.graph.find(name);
    if (!node) throw new BlockError('not-found', `Cannot find device='' nor node-name='${name}'`);
    const holder = BlockBackend.attach(this.graph, node, {
      role: 'root',
      claim: { perm: perms('write', 'resize'), shared: perms('write-unchanged') },
    });
    try {
      await body(node);
      await node.flush();
    } finally {
      holder.detach();
    }
  }
}

function qcow2Options(options: CreateQcow2NodeOptions): CreateQcow2Options {
  const out: CreateQcow2Options = { size: options.size };
  if (options.version !== undefined) out.compat = options.version === 'v2' ? '0.10' : '1.1';
  if (options['cluster-size'] !== undefined) out.clusterSize = options['cluster-size'];
  if (options['refcount-bits'] !== undefined) out.refcountBits = options['refcount-bits'];
  if (options['lazy-refcounts'] !== undefined) out.lazyRefcounts = options['lazy-refcounts'];
  if (options['backing-file'] !== undefined) out.backingFile = options['backing-file'];
  if (options['backing-fmt'] !== undefined) out.backingFormat = options['backing-fmt'];
  if (options.preallocation !== undefined) out.preallocation = options.preallocation;
  if (options['compression-type'] !== undefined) out.compressionType = options['compression-type'];
  return out;
}

/**
 * `blockdev-create`: checks the options (a bad size or driver changes nothing), then
 * creates and starts the job. Failures of the creation itself end the job with an error.
 */
export function blockdevCreate(
  graph: BlockGraph,
  jobs: JobManager,
  args: { 'job-id': string; options: BlockdevCreateOptions },
): BlockdevCreateJob {
  const { options } = args;
  const driver = (options as { driver?: unknown }).driver;
  if (driver !== 'file' && driver !== 'raw' && driver !== 'qcow2') {
    throw new BlockError('invalid-argument', `Driver '${String(driver)}' does not support image creation`);
  }
  if (!Number.isSafeInteger(options.size) || options.size < 0) {
    throw new BlockError('invalid-argument', "Parameter 'size' expects a non-negative value");
  }
  if (options.driver !== 'file' && !graph.find(options.file)) {
    throw new BlockError('not-found', `Cannot find device='' nor node-name='${options.file}'`);
  }
  const job = jobs.create(new BlockdevCreateJob(args['job-id'], graph, options));
  job.start();
  return job;
}
