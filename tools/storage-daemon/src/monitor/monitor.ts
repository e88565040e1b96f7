import {
  type BlockdevOptions,
  type BlockGraph,
  type BlockStreamArgs,
  blockdevAdd,
  blockStream,
  type JobEvent,
  JobManager,
  jobTransaction,
  qmpTransaction,
  queryNamedBlockNodes,
} from '@strata/block-layer';
import type { JsonObject, QmpCommandContext, QmpServer, QmpServerOptions } from '@strata/qmp-protocol';
import { QmpServer as Server } from '@strata/qmp-protocol';
import { registerBitmapCommands } from './bitmap-commands.js';
import { registerCopyJobCommands } from './copy-job-commands.js';
import { registerJobCommands } from './job-commands.js';
import { NbdService, registerNbdCommands } from './nbd-commands.js';
import { registerReopenCommand } from './reopen-command.js';
import { qmpCall } from './qmp-errors.js';
import { shutdownBlockLayer } from './shutdown.js';
import { STRATA_SCHEMA } from './strata-schema.js';
import { registerSnapshotSyncCommand } from './snapshot-sync-command.js';

/** A command handler over untyped (already schema-checked) arguments. */
export type MonitorHandler = (args: JsonObject, context: QmpCommandContext) => unknown;

/** What {@link createMonitor} accepts. */
export interface MonitorOptions {
  /** The server to register on (default: a new one announcing QEMU 7.2's version). */
  server?: QmpServer;
  /** Options of the server created when `server` is not given (schema: QEMU's plus Strata's actions). */
  serverOptions?: QmpServerOptions;
  /** The job registry (default: a new one). Its events go to the server's sessions. */
  jobs?: JobManager;
  /** Called after `quit` has been answered: the embedding process decides how to exit. */
  onQuit?: () => void;
}

/** A QMP-driven block layer: the server, the graph and jobs it drives, and a clean shutdown. */
export interface Monitor {
  readonly server: QmpServer;
  readonly graph: BlockGraph;
  readonly jobs: JobManager;
  /** The NBD server and its exports. */
  readonly nbd: NbdService;
  /** Stops the NBD server, cancels every job, stores persistent bitmaps and closes every node. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Binds the block layer to a QMP server: registers every block command the block layer
 * implements under qemu-storage-daemon 7.2's names, with its arguments, replies, events and
 * error classes. Commands not registered here answer `CommandNotFound`, so a client probing
 * `query-commands` sees exactly what is supported.
 */
export function createMonitor(graph: BlockGraph, options: MonitorOptions = {}): Monitor {
  const server = options.server ?? new Server({ schema: STRATA_SCHEMA, ...options.serverOptions });
  const jobs = options.jobs ?? new JobManager();
  jobs.subscribe((event: JobEvent) => {
    server.emitEvent(event.event, event.data as unknown as JsonObject);
  });
  const on = (name: string, handler: MonitorHandler): void => {
    server.register(name, async (args, context) => {
      const result = await qmpCall(() => handler(args, context));
      return result === undefined ? undefined : (result as JsonObject);
    });
  };

  registerGraphCommands(on, graph, jobs);
  registerBitmapCommands(on, graph);
  registerJobCommands(on, jobs);
  registerCopyJobCommands(on, graph, jobs);
  registerReopenCommand(on, graph);
  registerSnapshotSyncCommand(on, graph);
  const nbd = new NbdService(graph, server);
  registerNbdCommands(on, nbd);

  let closing: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    // Exports go first: their clients hold backends on the nodes that are about to close.
    closing ??= nbd.close().then(
      () => shutdownBlockLayer(graph, jobs),
      () => shutdownBlockLayer(graph, jobs),
    );
    return closing;
  };
  on('quit', (_args, context) => {
    context.session.closeAfterReply();
    // The reply goes out first; the owner then shuts down (QEMU answers quit before exiting).
    if (options.onQuit) setImmediate(options.onQuit);
    return undefined;
  });
  return { server, graph, jobs, nbd, shutdown };
}

/** A registrar as the command groups receive it. */
export type Register = (name: string, handler: MonitorHandler) => void;

function registerGraphCommands(on: Register, graph: BlockGraph, jobs: JobManager): void {
  on('blockdev-add', async (args) => {
    await blockdevAdd(graph, args as unknown as BlockdevOptions);
  });
  on('blockdev-del', async (args) => {
    await graph.delete(String(args['node-name']));
  });
  on('query-named-block-nodes', () => queryNamedBlockNodes(graph));
  on('transaction', async (args) => {
    const actions = (args['actions'] ?? []) as { type: string; data?: unknown }[];
    const properties = (args['properties'] ?? {}) as { 'completion-mode'?: 'individual' | 'grouped' };
    // The job-aware runner also handles every built-in action (snapshot, bitmaps, abort).
    await jobTransaction(graph, jobs, actions, properties);
  });
  on('blockdev-snapshot', async (args) => {
    await qmpTransaction(graph, [{ type: 'blockdev-snapshot', data: args }]);
  });
  on('block-stream', async (args) => {
    await blockStream(graph, jobs, args as unknown as BlockStreamArgs);
  });
}
