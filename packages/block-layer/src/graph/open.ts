import type { ImageFile } from '@strata/image-format';
import { FileNode, type FileReopener } from '../drivers/file-node.js';
import { NullNode } from '../drivers/null-node.js';
import { type FormatOpener, Qcow2Node } from '../drivers/qcow2-node.js';
import { RawNode } from '../drivers/raw-node.js';
import { Transaction } from '../transaction/transaction.js';
import type { BlockGraph } from './graph.js';
import type { BlockNode } from './node.js';

/** Options shared by every node constructor: the name (generated when absent) and ownership. */
export interface NodeOptions {
  nodeName?: string;
  /** Added by the user (blockdev-add): only such nodes can be deleted by name. Default true. */
  monitorOwned?: boolean;
}

/** Adds a `file` node over an already opened file. */
export async function addFileNode(
  graph: BlockGraph,
  options: NodeOptions & { file: ImageFile; reopener?: FileReopener; readOnly?: boolean },
): Promise<FileNode> {
  const name = graph.nameFor(options.nodeName);
  const node = await FileNode.open(name, options.file, options.reopener);
  // A read-only node may sit on a writable handle, never the other way round.
  if (options.readOnly) node.readOnly = true;
  graph.register(node, { monitorOwned: options.monitorOwned ?? true });
  return node;
}

/** Adds a `null-co` node. */
export function addNullNode(
  graph: BlockGraph,
  options: NodeOptions & { size?: number; readZeroes?: boolean; readOnly?: boolean } = {},
): NullNode {
  const node = new NullNode(
    graph.nameFor(options.nodeName),
    options.size,
    options.readZeroes,
    options.readOnly,
  );
  graph.register(node, { monitorOwned: options.monitorOwned ?? true });
  return node;
}

/** Adds a `raw` format node over `file`. */
export function addRawNode(
  graph: BlockGraph,
  options: NodeOptions & { file: BlockNode; readOnly?: boolean },
): RawNode {
  const node = new RawNode(graph.nameFor(options.nodeName), options.readOnly ?? options.file.readOnly);
  const tran = new Transaction();
  try {
    graph.register(node, { monitorOwned: options.monitorOwned ?? true });
    tran.add({ abort: () => graph.unregister(node) });
    graph.attachChild(node, options.file, 'file', tran);
  } catch (error) {
    tran.abort();
    throw error;
  }
  tran.commit();
  return node;
}

/**
 * Opens a qcow2 format node over `file`, with `backing` as its backing node (null or
 * absent: none; the caller decides, formats are never probed here).
 */
export async function addQcow2Node(
  graph: BlockGraph,
  options: NodeOptions & {
    file: BlockNode;
    backing?: BlockNode | null;
    readOnly?: boolean;
    opener: FormatOpener;
  },
): Promise<Qcow2Node> {
  const node = new Qcow2Node(
    graph.nameFor(options.nodeName),
    options.readOnly ?? options.file.readOnly,
    options.opener,
  );
  const tran = new Transaction();
  try {
    graph.register(node, { monitorOwned: options.monitorOwned ?? true });
    tran.add({ abort: () => graph.unregister(node) });
    graph.attachChild(node, options.file, 'file', tran);
    await node.openDriver();
    if (options.backing) graph.attachChild(node, options.backing, 'backing', tran);
  } catch (error) {
    tran.abort();
    await node.close().catch(() => undefined);
    throw error;
  }
  tran.commit();
  return node;
}
