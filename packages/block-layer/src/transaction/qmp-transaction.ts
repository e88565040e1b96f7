import {
  addBitmap,
  type BitmapAddOptions,
  type BitmapSource,
  clearBitmap,
  mergeBitmaps,
  removeBitmap,
  setBitmapEnabled,
} from '../bitmap/bitmap-commands.js';
import { BlockError } from '../errors.js';
import { requireObject, requireString } from '../qapi-args.js';
import type { BlockGraph } from '../graph/graph.js';
import { SnapshotAction, type SnapshotOptions } from './snapshot.js';
import { SnapshotSyncAction, type SnapshotSyncOptions } from './snapshot-sync.js';

/**
 * One action of QMP's `transaction`: prepare does the change (or fails), then either
 * commit or abort runs, then clean. Abort must cope with a prepare that failed half-way.
 */
export interface TransactionAction {
  prepare(): Promise<void> | void;
  commit?(): Promise<void> | void;
  abort?(): Promise<void> | void;
  clean?(): Promise<void> | void;
}

/** The wire form of the actions implemented so far. */
export type TransactionActionSpec =
  | { type: 'abort'; data?: Record<string, never> }
  | { type: 'block-dirty-bitmap-add'; data: BitmapAddOptions }
  | { type: 'block-dirty-bitmap-remove'; data: { node: string; name: string } }
  | { type: 'block-dirty-bitmap-clear'; data: { node: string; name: string } }
  | { type: 'block-dirty-bitmap-enable'; data: { node: string; name: string } }
  | { type: 'block-dirty-bitmap-disable'; data: { node: string; name: string } }
  | { type: 'block-dirty-bitmap-merge'; data: { node: string; target: string; bitmaps: BitmapSource[] } }
  | { type: 'blockdev-snapshot'; data: SnapshotOptions }
  | { type: 'blockdev-snapshot-sync'; data: SnapshotSyncOptions };

/** `properties` of a transaction. */
export interface TransactionProperties {
  'completion-mode'?: 'individual' | 'grouped';
}

const KNOWN_TYPES = new Set([
  'abort',
  'block-dirty-bitmap-add',
  'block-dirty-bitmap-remove',
  'block-dirty-bitmap-clear',
  'block-dirty-bitmap-enable',
  'block-dirty-bitmap-disable',
  'block-dirty-bitmap-merge',
  'blockdev-snapshot',
  'blockdev-snapshot-sync',
]);

/**
 * Runs actions all-or-nothing, as QEMU's qmp_transaction: each is appended to the list
 * and then prepared; on the first failure every listed action (the failed one included)
 * is aborted in reverse order; otherwise all commit in order; clean runs for all either way.
 */
export async function runTransaction(actions: readonly TransactionAction[]): Promise<void> {
  const listed: TransactionAction[] = [];
  try {
    for (const action of actions) {
      listed.push(action);
      await action.prepare();
    }
  } catch (error) {
    for (const action of [...listed].reverse()) await action.abort?.();
    for (const action of listed) await action.clean?.();
    throw error;
  }
  for (const action of listed) await action.commit?.();
  for (const action of listed) await action.clean?.();
}

/**
 * QMP `transaction` over the graph: validates the action types first (an unknown type
 * changes nothing), then builds each action and runs them with {@link runTransaction}.
 */
export async function qmpTransaction(
  graph: BlockGraph,
  specs: readonly { type: string; data?: unknown }[],
  properties: TransactionProperties = {},
): Promise<void> {
  for (const raw of specs) {
    const spec = requireObject(raw, 'actions');
    const type = requireString(spec, 'type');
    if (!KNOWN_TYPES.has(type)) {
      throw new BlockError('invalid-argument', `Parameter 'type' does not accept value '${type}'`);
    }
    checkData(type, spec['data']);
  }
  const grouped = properties['completion-mode'] === 'grouped';
  await runTransaction(specs.map((spec) => buildAction(graph, spec as TransactionActionSpec, grouped)));
}

/** The mandatory members of each action's data, checked before anything runs. */
const REQUIRED: Record<string, readonly string[]> = {
  abort: [],
  'block-dirty-bitmap-add': ['node', 'name'],
  'block-dirty-bitmap-remove': ['node', 'name'],
  'block-dirty-bitmap-clear': ['node', 'name'],
  'block-dirty-bitmap-enable': ['node', 'name'],
  'block-dirty-bitmap-disable': ['node', 'name'],
  'block-dirty-bitmap-merge': ['node', 'target'],
  'blockdev-snapshot': ['node', 'overlay'],
  'blockdev-snapshot-sync': ['snapshot-file'],
};

/** Optional string members, type-checked before anything runs. */
const OPTIONAL_STRINGS: Record<string, readonly string[]> = {
  'blockdev-snapshot-sync': ['device', 'node-name', 'snapshot-node-name', 'format', 'mode'],
};

function checkData(type: string, data: unknown): void {
  if (type === 'abort' && data === undefined) return;
  const object = requireObject(data, 'data');
  for (const key of REQUIRED[type] ?? []) requireString(object, key);
  for (const key of OPTIONAL_STRINGS[type] ?? []) {
    if (object[key] !== undefined) requireString(object, key);
  }
  if (type === 'blockdev-snapshot-sync') {
    const mode = object['mode'];
    if (mode !== undefined && mode !== 'absolute-paths' && mode !== 'existing') {
      throw new BlockError('invalid-argument', `Parameter 'mode' does not accept value '${String(mode)}'`);
    }
  }
  if (type === 'block-dirty-bitmap-merge') {
    const bitmaps = object['bitmaps'];
    if (bitmaps === undefined) throw new BlockError('invalid-argument', "Parameter 'bitmaps' is missing");
    if (!Array.isArray(bitmaps)) {
      throw new BlockError('invalid-argument', "Invalid parameter type for 'bitmaps', expected: array");
    }
    for (const source of bitmaps) {
      if (typeof source === 'string') continue;
      const ref = requireObject(source, 'bitmaps');
      requireString(ref, 'node');
      requireString(ref, 'name');
    }
  }
}

function buildAction(graph: BlockGraph, spec: TransactionActionSpec, grouped: boolean): TransactionAction {
  const refuseGrouped = () => {
    if (grouped) {
      throw new BlockError(
        'invalid-argument',
        `Action '${spec.type}' does not support Transaction property completion-mode = grouped`,
      );
    }
  };
  switch (spec.type) {
    case 'abort':
      return {
        prepare: () => {
          throw new BlockError('transaction-aborted', 'Transaction aborted using Abort action');
        },
      };
    case 'blockdev-snapshot': {
      const action = new SnapshotAction(graph, spec.data);
      return {
        prepare: async () => {
          refuseGrouped();
          await action.prepare();
        },
        commit: () => action.commit(),
        abort: () => action.abort(),
        clean: () => action.clean(),
      };
    }
    case 'blockdev-snapshot-sync': {
      const action = new SnapshotSyncAction(graph, spec.data);
      return {
        prepare: async () => {
          refuseGrouped();
          await action.prepare();
        },
        commit: () => action.commit(),
        abort: () => action.abort(),
        clean: () => action.clean(),
      };
    }
    default:
      return undoable(refuseGrouped, () => bitmapStep(graph, spec));
  }
}

/** An action whose prepare returns its own undo (the bitmap actions). */
function undoable(check: () => void, apply: () => { undo: () => void }): TransactionAction {
  let undo: (() => void) | null = null;
  return {
    prepare: () => {
      check();
      undo = apply().undo;
    },
    abort: () => undo?.(),
  };
}

function bitmapStep(graph: BlockGraph, spec: TransactionActionSpec): { undo: () => void } {
  switch (spec.type) {
    case 'block-dirty-bitmap-add':
      return addBitmap(graph, spec.data);
    case 'block-dirty-bitmap-remove':
      return removeBitmap(graph, spec.data.node, spec.data.name);
    case 'block-dirty-bitmap-clear':
      return clearBitmap(graph, spec.data.node, spec.data.name);
    case 'block-dirty-bitmap-enable':
      return setBitmapEnabled(graph, spec.data.node, spec.data.name, true);
    case 'block-dirty-bitmap-disable':
      return setBitmapEnabled(graph, spec.data.node, spec.data.name, false);
    case 'block-dirty-bitmap-merge':
      return mergeBitmaps(graph, spec.data.node, spec.data.target, spec.data.bitmaps);
    default:
      throw new BlockError('invalid-argument', `Parameter 'type' does not accept value '${spec.type}'`);
  }
}

/**
 * Checks one action of the kinds above (type known, mandatory members present) without
 * running anything; for transactions that add actions of their own (the job actions).
 */
export function checkBuiltinAction(raw: unknown): void {
  const spec = requireObject(raw, 'actions');
  const type = requireString(spec, 'type');
  if (!KNOWN_TYPES.has(type)) {
    throw new BlockError('invalid-argument', `Parameter 'type' does not accept value '${type}'`);
  }
  checkData(type, spec['data']);
}

/** Builds one checked action of the kinds above (see {@link checkBuiltinAction}). */
export function builtinAction(
  graph: BlockGraph,
  spec: { type: string; data?: unknown },
  grouped: boolean,
): TransactionAction {
  return buildAction(graph, spec as TransactionActionSpec, grouped);
}
