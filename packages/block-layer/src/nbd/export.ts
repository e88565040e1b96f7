import { BlockBackend } from '../backend/block-backend.js';
import type { BdrvDirtyBitmap } from '../bitmap/dirty-bitmap.js';
import { FilterNode } from '../drivers/filter-node.js';
import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';
import { CLAIMS } from '../graph/permissions.js';
import {
  BASE_ALLOCATION,
  MAX_CONTEXT_QUERY,
  MAX_EXPORT_NAME,
  QEMU_ALLOCATION_DEPTH,
  QEMU_DIRTY_BITMAP_PREFIX,
} from './constants.js';

/** A bitmap named for export: a plain name (looked up down the chain) or a node and a name. */
export type NbdExportBitmap = string | { node: string; name: string };

/** The options of `block-export-add` for `type: nbd`, as the block layer takes them. */
export interface NbdExportOptions {
  /** The export id (`block-export-add`'s `id`). */
  id: string;
  /** The node to serve (`node-name`). */
  node: string | BlockNode;
  /** The name clients ask for; defaults to the node name. */
  name?: string;
  description?: string;
  writable?: boolean;
  /** Bitmaps offered as `qemu:dirty-bitmap:NAME` contexts, in this order. */
  bitmaps?: NbdExportBitmap[];
  /** Offer the `qemu:allocation-depth` context. */
  allocationDepth?: boolean;
}

/** One metadata context of an export, with the id QEMU gives it. */
export interface MetaContext {
  id: number;
  name: string;
  /** For `qemu:dirty-bitmap:` contexts. */
  bitmap?: BdrvDirtyBitmap;
}

/** `query-block-exports` entry. */
export interface BlockExportInfo {
  type: 'nbd';
  id: string;
  'node-name': string;
  'shutting-down': boolean;
}

/**
 * An NBD export: a backend on a node (reader, or writer when writable), the bitmaps it
 * offers, and the metadata contexts clients may select. Exported bitmaps are marked busy
 * until the export is released.
 */
export class NbdExport {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly writable: boolean;
  readonly contexts: readonly MetaContext[];
  readonly backend: BlockBackend;
  shuttingDown = false;

  private constructor(
    options: NbdExportOptions,
    readonly node: BlockNode,
    backend: BlockBackend,
    contexts: MetaContext[],
  ) {
    this.id = options.id;
    this.name = options.name ?? node.name;
    this.description = options.description ?? '';
    this.writable = options.writable ?? false;
    this.backend = backend;
    this.contexts = contexts;
  }

  /** Validates the options, attaches a backend and claims the bitmaps; changes nothing on failure. */
  static open(graph: BlockGraph, options: NbdExportOptions): NbdExport {
    const node = typeof options.node === 'string' ? graph.find(options.node) : options.node;
    if (!node) {
      throw new BlockError(
        'not-found',
        `Cannot find device=${String(options.node)} nor node-name=${String(options.node)}`,
        {
          qmpClass: 'DeviceNotFound',
        },
      );
    }
    const name = options.name ?? node.name;
    if (new TextEncoder().encode(name).length > MAX_EXPORT_NAME) {
      throw new BlockError('invalid-argument', `export name '${name.slice(0, 64)}...' too long`);
    }
    const writable = options.writable ?? false;
    if (writable && node.readOnly) throw new BlockError('read-only', 'Block node is read-only');
    const bitmaps = (options.bitmaps ?? []).map((b) => findBitmap(graph, node, b));
    for (const bitmap of bitmaps) {
      if (bitmap.busy)
        throw new BlockError('busy', `Bitmap '${bitmap.name}' is currently in use by another operation`);
      if (bitmap.inconsistent) {
        throw new BlockError(
          'invalid-argument',
          `Bitmap '${bitmap.name}' is inconsistent and cannot be used`,
        );
      }
      if (!writable && bitmap.enabled && !node.readOnly) {
        throw new BlockError(
          'invalid-argument',
          `Enabled bitmap '${bitmap.name}' incompatible with readonly export`,
        );
      }
    }
    const backend = BlockBackend.attach(graph, node, {
      role: 'root',
      claim: writable ? CLAIMS.writer : CLAIMS.reader,
    });
    for (const bitmap of bitmaps) bitmap.busy = true;
    const contexts: MetaContext[] = [{ id: 0, name: BASE_ALLOCATION }];
    if (options.allocationDepth) contexts.push({ id: 1, name: QEMU_ALLOCATION_DEPTH });
    bitmaps.forEach((bitmap, i) => {
      contexts.push({ id: 2 + i, name: `${QEMU_DIRTY_BITMAP_PREFIX}${bitmap.name ?? ''}`, bitmap });
    });
    return new NbdExport({ ...options, name }, node, backend, contexts);
  }

  get size(): number {
    return this.backend.length;
  }

  info(): BlockExportInfo {
    return { type: 'nbd', id: this.id, 'node-name': this.node.name, 'shutting-down': this.shuttingDown };
  }

  /**
   * The contexts a list of queries selects. For LIST, no queries means all, and the
   * namespace queries `base:`, `qemu:` and `qemu:dirty-bitmap:` are wildcards; SET takes
   * exact names only. Unknown names and over-long queries select nothing. The answer is in
   * id order, without duplicates.
   */
  selectContexts(queries: readonly string[], listing: boolean): MetaContext[] {
    if (listing && queries.length === 0) return [...this.contexts];
    const chosen = new Set<MetaContext>();
    for (const query of queries) {
      if (new TextEncoder().encode(query).length > MAX_CONTEXT_QUERY) continue;
      for (const context of this.contexts) {
        if (context.name === query) chosen.add(context);
        else if (listing && matchesWildcard(context.name, query)) chosen.add(context);
      }
    }
    return [...chosen].sort((a, b) => a.id - b.id);
  }

  /** Detaches the backend and frees the bitmaps (called once the last client is gone). */
  release(): void {
    for (const context of this.contexts) if (context.bitmap) context.bitmap.busy = false;
    this.backend.detach();
  }
}

function matchesWildcard(name: string, query: string): boolean {
  if (query === 'base:') return name.startsWith('base:');
  if (query === 'qemu:') return name.startsWith('qemu:');
  if (query === QEMU_DIRTY_BITMAP_PREFIX) return name.startsWith(QEMU_DIRTY_BITMAP_PREFIX);
  return false;
}

function findBitmap(graph: BlockGraph, node: BlockNode, spec: NbdExportBitmap): BdrvDirtyBitmap {
  if (typeof spec !== 'string') {
    const owner = graph.find(spec.node);
    const bitmap = owner?.bitmaps.find((b) => b.name === spec.name);
    if (!owner) {
      throw new BlockError('not-found', `Cannot find device=${spec.node} nor node-name=${spec.node}`, {
        qmpClass: 'DeviceNotFound',
      });
    }
    if (!bitmap) throw new BlockError('not-found', `Bitmap '${spec.name}' is not found`);
    return bitmap;
  }
  let current: BlockNode | null = node;
  for (let depth = 0; current && depth < 64; depth++) {
    const bitmap = current.bitmaps.find((b) => b.name === spec);
    if (bitmap) return bitmap;
    current = current instanceof FilterNode ? current.filtered : current.backing;
  }
  throw new BlockError('not-found', `Bitmap '${spec}' is not found`);
}
