import { createQcow2, createRaw, HostFile } from '@strata/image-format';
import { qcow2Opener } from '../drivers/qcow2-node.js';
import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { addFileNode, addQcow2Node, addRawNode } from '../graph/open.js';

/** How a job's target named by file name is obtained (QMP `NewImageMode`, without probing). */
export interface ImageTargetOptions {
  path: string;
  /** `qcow2` or `raw`. */
  format: string;
  /** `absolute-paths` creates the image; `existing` opens the file as it is. */
  mode: 'absolute-paths' | 'existing';
  /** Virtual size of a created image. */
  size: number;
  /** Recorded as the created image's backing file, and linked as the node's backing. */
  backing: BlockNode | null;
  /** Record `backing` in the created image only, without linking it (the node keeps no backing). */
  headerOnly?: boolean;
  nodeName?: string;
}

/**
 * Creates or opens a job's target image by file name and adds it as an implicit node
 * (not owned by the monitor): the caller drops it with `graph.dropIfUnused` once its job
 * is gone, as QEMU drops the reference its drive-* commands hold.
 */
export async function openImageTarget(graph: BlockGraph, options: ImageTargetOptions): Promise<BlockNode> {
  const { format, backing } = options;
  if (format !== 'qcow2' && format !== 'raw')
    throw new BlockError('invalid-argument', `Unknown driver '${format}'`);
  if (options.nodeName !== undefined) graph.nameFor(options.nodeName);
  if (options.mode === 'absolute-paths') {
    if (format === 'raw') await createRaw(options.path, { size: options.size });
    else {
      const create: Parameters<typeof createQcow2>[1] = { size: options.size };
      if (backing) {
        create.backingFile = backing.filename;
        create.backingFormat = backing.driver === 'raw' ? 'raw' : 'qcow2';
      }
      await createQcow2(options.path, create);
    }
  }
  const file = await addFileNode(graph, { file: await HostFile.open(options.path), monitorOwned: false });
  const named = options.nodeName === undefined ? {} : { nodeName: options.nodeName };
  try {
    return format === 'raw'
      ? addRawNode(graph, { file, monitorOwned: false, ...named })
      : await addQcow2Node(graph, {
          file,
          backing: options.headerOnly ? null : backing,
          opener: qcow2Opener,
          monitorOwned: false,
          ...named,
        });
  } catch (error) {
    await graph.dropIfUnused(file);
    throw error;
  }
}
