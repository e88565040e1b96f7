import { MemoryFile } from '@strata/image-format';
import type { FileNode } from '../drivers/file-node.js';
import type { FormatOpener, Qcow2Node } from '../drivers/qcow2-node.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { addFileNode, addQcow2Node } from '../graph/open.js';
import { SimpleImage } from './simple-image.js';

/** Opens {@link SimpleImage} test images as format nodes. */
export const simpleOpener: FormatOpener = (file, options) => SimpleImage.open(file, options);

/**
 * Adds a format node over a fresh in-memory test image, with an implicit `file` node
 * below it (as blockdev-add with a nested file does).
 */
export async function addMemoryImage(
  graph: BlockGraph,
  options: {
    nodeName?: string;
    size?: number;
    clusterSize?: number;
    backing?: BlockNode | null;
    readOnly?: boolean;
    backingFileName?: string;
    path?: string;
    monitorOwned?: boolean;
  } = {},
): Promise<{ node: Qcow2Node; file: FileNode; memory: MemoryFile }> {
  const memory = new MemoryFile(options.path ?? `/mem/${options.nodeName ?? 'img'}.img`);
  const init: { virtualSize: number; clusterSize?: number; backingFileName?: string } = {
    virtualSize: options.size ?? 1 << 20,
    clusterSize: options.clusterSize ?? 4096,
  };
  if (options.backingFileName !== undefined) init.backingFileName = options.backingFileName;
  await SimpleImage.create(memory, init);
  const file = await addFileNode(graph, { file: memory, monitorOwned: false });
  const nodeOptions: Parameters<typeof addQcow2Node>[1] = {
    file,
    backing: options.backing ?? null,
    opener: simpleOpener,
  };
  if (options.nodeName !== undefined) nodeOptions.nodeName = options.nodeName;
  if (options.readOnly !== undefined) nodeOptions.readOnly = options.readOnly;
  if (options.monitorOwned !== undefined) nodeOptions.monitorOwned = options.monitorOwned;
  const node = await addQcow2Node(graph, nodeOptions);
  return { node, file, memory };
}

/** Bytes `[offset, offset+length)` of a node, read directly (not through a backend). */
export async function readNode(node: BlockNode, offset: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await node.read(buf, offset);
  return buf;
}

/** A buffer filled with one byte value. */
export function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}
