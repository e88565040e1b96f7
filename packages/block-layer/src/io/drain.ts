import type { BlockGraph } from '../graph/graph.js';
import type { BlockNode } from '../graph/node.js';

/** A drained section: ends with {@link DrainedSection.end}, exactly once. */
export interface DrainedSection {
  /** The nodes quiesced by this section. */
  readonly nodes: readonly BlockNode[];
  end(): void;
}

/**
 * Drains `roots` (QEMU's bdrv_drained_begin over subtrees): every node above them stops
 * accepting new requests from its users (backends hold them back, jobs pause), then this
 * waits until nothing is in flight on the roots, their subtrees, or the nodes above that
 * could still send requests down. Requests issued by in-flight requests are let through,
 * so draining never deadlocks on its own work.
 */
export async function drain(graph: BlockGraph, roots: readonly BlockNode[]): Promise<DrainedSection> {
  const affected = new Set<BlockNode>();
  for (const root of roots) {
    affected.add(root);
    for (const n of graph.descendants(root)) affected.add(n);
    for (const n of graph.ancestors(root)) affected.add(n);
  }
  const nodes = [...affected];
  for (const node of nodes) node.quiesceCount++;
  const users = nodes.flatMap((node) =>
    node.parents.filter((e) => e.parent.kind !== 'node').map((e) => e.parent),
  );
  for (const user of users) user.drainedBegin?.();
  await waitIdle(nodes);
  let ended = false;
  return {
    nodes,
    end: () => {
      if (ended) return;
      ended = true;
      for (const node of nodes) node.endQuiesce();
      for (const user of users) user.drainedEnd?.();
    },
  };
}

/** Waits until every node has no request in flight at the same moment. */
export async function waitIdle(nodes: readonly BlockNode[]): Promise<void> {
  for (;;) {
    const busy = nodes.find((n) => n.requests.inFlight > 0);
    if (!busy) return;
    await busy.requests.whenIdle();
  }
}

/** Runs `body` inside a drained section of `roots`, ending it however `body` ends. */
export async function drained<T>(
  graph: BlockGraph,
  roots: readonly BlockNode[],
  body: () => Promise<T> | T,
): Promise<T> {
  const section = await drain(graph, roots);
  try {
    return await body();
  } finally {
    section.end();
  }
}
