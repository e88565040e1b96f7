import { HostFile, type ImageFile } from '@strata/image-format';
import type { FormatOpener } from '../drivers/qcow2-node.js';
import { type Qcow2Node, qcow2Opener } from '../drivers/qcow2-node.js';
import { addNbdNode } from '../drivers/nbd-node.js';
import { BlockError } from '../errors.js';
import { requireObject, requireString } from '../qapi-args.js';
import type { BlockGraph } from './graph.js';
import type { BlockNode } from './node.js';
import { addFileNode, addNullNode, addQcow2Node, addRawNode } from './open.js';

/** A child given by reference (the name of an existing node) or by nested options. */
export type BlockdevRef = string | BlockdevOptions;

/** The subset of QMP's BlockdevOptions this layer opens. */
export type BlockdevOptions =
  | ({ driver: 'file'; filename: string } & BlockdevCommon)
  | ({ driver: 'null-co'; size?: number; 'read-zeroes'?: boolean } & BlockdevCommon)
  | ({ driver: 'raw'; file: BlockdevRef } & BlockdevCommon)
  | ({ driver: 'qcow2'; file: BlockdevRef; backing?: BlockdevRef | null } & BlockdevCommon)
  | ({ driver: 'nbd'; server: NbdServerAddress; export?: string } & BlockdevCommon);

/** Where an `nbd` node connects (QMP's SocketAddress, unix and inet forms). */
export type NbdServerAddress =
  | { type: 'unix'; path: string }
  | { type: 'inet'; host: string; port: string | number };

/** Options every driver takes. */
export interface BlockdevCommon {
  'node-name'?: string;
  'read-only'?: boolean;
}

/** Where blockdev-add gets files and format drivers from (injectable for tests). */
export interface BlockdevEnvironment {
  openFile?: (path: string, readOnly: boolean) => Promise<ImageFile>;
  qcow2Opener?: FormatOpener;
  /** Longest backing chain followed from image headers (QEMU's limit is similar). */
  maxBackingDepth?: number;
}

/**
 * `blockdev-add`: opens a node tree from QMP options. The root must be named; nested
 * children get generated names and are dropped with their parent. A qcow2 node whose
 * `backing` is absent opens the backing file its header names, read-only, with the
 * format the header records (never guessed); `backing: null` opens none. Any failure
 * closes and removes everything this call opened.
 */
export async function blockdevAdd(
  graph: BlockGraph,
  options: BlockdevOptions,
  env: BlockdevEnvironment = {},
): Promise<BlockNode> {
  if (requireObject(options, 'options')['node-name'] === undefined) {
    throw new BlockError('invalid-argument', "'node-name' must be specified for the root node");
  }
  const opened: BlockNode[] = [];
  try {
    return await open(graph, options, env, opened, { monitorOwned: true, inheritReadOnly: false, depth: 0 });
  } catch (error) {
    for (const node of opened.reverse()) {
      node.monitorOwned = false;
      await graph.dropIfUnused(node).catch(() => undefined);
    }
    throw error;
  }
}

interface OpenContext {
  monitorOwned: boolean;
  inheritReadOnly: boolean;
  depth: number;
  /** Image files opened from headers on the way down, to refuse loops. */
  chain?: readonly string[];
}

async function open(
  graph: BlockGraph,
  options: BlockdevOptions,
  env: BlockdevEnvironment,
  opened: BlockNode[],
  ctx: OpenContext,
): Promise<BlockNode> {
  const checked = requireObject(options, 'options');
  const driver = requireString(checked, 'driver');
  if (driver === 'file') requireString(checked, 'filename');
  if (driver === 'raw' || driver === 'qcow2') {
    if (checked['file'] === undefined)
      throw new BlockError('invalid-argument', "Parameter 'file' is missing");
    if (typeof checked['file'] !== 'string') requireObject(checked['file'], 'file');
  }
  if (checked['node-name'] !== undefined) requireString(checked, 'node-name');
  const readOnly = options['read-only'] ?? ctx.inheritReadOnly;
  const named = options['node-name'] !== undefined ? { nodeName: options['node-name'] } : {};
  const track = <T extends BlockNode>(node: T): T => {
    opened.push(node);
    return node;
  };
  switch (options.driver) {
    case 'file': {
      graph.nameFor(options['node-name']); // check the name before touching the file
      const openFile = env.openFile ?? ((path, ro) => HostFile.open(path, { readOnly: ro }));
      const file = await openFile(options.filename, readOnly);
      return track(await addFileNode(graph, { ...named, file, readOnly, monitorOwned: ctx.monitorOwned }));
    }
    case 'null-co': {
      const nullOptions: Parameters<typeof addNullNode>[1] = {
        ...named,
        monitorOwned: ctx.monitorOwned,
        readOnly,
      };
      if (options.size !== undefined) nullOptions.size = options.size;
      if (options['read-zeroes'] !== undefined) nullOptions.readZeroes = options['read-zeroes'];
      return track(addNullNode(graph, nullOptions));
    }
    case 'raw': {
      graph.nameFor(options['node-name']);
      const file = await child(graph, options.file, env, opened, { ...ctx, inheritReadOnly: readOnly });
      return track(addRawNode(graph, { ...named, file, readOnly, monitorOwned: ctx.monitorOwned }));
    }
    case 'qcow2': {
      graph.nameFor(options['node-name']);
      const file = await child(graph, options.file, env, opened, { ...ctx, inheritReadOnly: readOnly });
      const node = track(
        await addQcow2Node(graph, {
          ...named,
          file,
          readOnly,
          monitorOwned: ctx.monitorOwned,
          opener: env.qcow2Opener ?? qcow2Opener,
        }),
      );
      if (options.backing === null) return node;
      const backing =
        options.backing === undefined
          ? await openHeaderBacking(graph, node, env, opened, ctx)
          : await child(graph, options.backing, env, opened, { ...ctx, inheritReadOnly: true });
      if (backing) graph.setBacking(node, backing);
      return node;
    }
    case 'nbd': {
      const nbdOptions: Parameters<typeof addNbdNode>[1] = {
        ...named,
        server: options.server,
        readOnly,
        monitorOwned: ctx.monitorOwned,
      };
      if (options.export !== undefined) nbdOptions.export = options.export;
      return track(await addNbdNode(graph, nbdOptions));
    }
    default:
      throw new BlockError(
        'invalid-argument',
        `Parameter 'driver' does not accept value '${(options as { driver: string }).driver}'`,
      );
  }
}

async function child(
  graph: BlockGraph,
  ref: BlockdevRef,
  env: BlockdevEnvironment,
  opened: BlockNode[],
  ctx: OpenContext,
): Promise<BlockNode> {
  if (typeof ref === 'string') return graph.require(ref);
  return open(graph, ref, env, opened, { ...ctx, monitorOwned: false });
}

/** Opens the backing file a qcow2 header names, read-only, with the recorded format. */
async function openHeaderBacking(
  graph: BlockGraph,
  node: Qcow2Node,
  env: BlockdevEnvironment,
  opened: BlockNode[],
  ctx: OpenContext,
): Promise<BlockNode | null> {
  const path = node.headerBackingPath();
  if (path === null) return null;
  const chain = [...(ctx.chain ?? []), node.file?.filename ?? ''];
  if (chain.includes(path)) {
    throw new BlockError('invalid-argument', `Backing chain of '${chain[0]}' loops back to '${path}'`);
  }
  const limit = env.maxBackingDepth ?? 64;
  if (ctx.depth >= limit) {
    throw new BlockError(
      'invalid-argument',
      `Backing chain of '${node.filename}' is deeper than ${limit} images`,
    );
  }
  const format = node.imageDriver.backingFormat;
  if (format === null) {
    throw new BlockError(
      'invalid-argument',
      `Backing file '${path}' of '${node.filename}' has no recorded format; formats are never probed`,
    );
  }
  const file: BlockdevOptions = { driver: 'file', filename: path };
  const backing: BlockdevOptions = format === 'raw' ? { driver: 'raw', file } : { driver: 'qcow2', file };
  return open(graph, backing, env, opened, {
    monitorOwned: false,
    inheritReadOnly: true,
    depth: ctx.depth + 1,
    chain,
  });
}
