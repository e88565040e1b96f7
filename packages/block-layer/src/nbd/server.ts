import type { Duplex } from 'node:stream';
import { BlockError } from '../errors.js';
import type { BlockGraph } from '../graph/graph.js';
import { type ConnectionHost, NbdConnection } from './connection.js';
import { type BlockExportInfo, NbdExport, type NbdExportOptions } from './export.js';

/** QEMU 7.2.22's default `max-connections` of nbd-server-start. */
export const DEFAULT_MAX_CONNECTIONS = 100;
/** Time a client has to finish the handshake. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Options of {@link NbdServer}. */
export interface NbdServerOptions {
  /** Most clients at once (0 = unlimited); extra connections are closed at once. */
  maxConnections?: number;
  /** Milliseconds a client has to reach the transmission phase (0 = no limit). */
  handshakeTimeoutMs?: number;
  /** Called with the export id once a removed export is gone (QMP's BLOCK_EXPORT_DELETED). */
  onExportDeleted?: (id: string) => void;
}

/** How `block-export-del` removes an export. */
export type ExportRemoveMode = 'safe' | 'hard';

/**
 * The NBD server without sockets: a registry of exports and the clients served from it.
 * Feed it connected byte streams with {@link handleConnection} (see `listenNbd` for unix
 * and TCP listeners). The QMP commands map onto it one to one: nbd-server-start →
 * constructor + listen, block-export-add → {@link addExport}, block-export-del →
 * {@link removeExport}, query-block-exports → {@link queryExports}, nbd-server-stop →
 * {@link stop}, and BLOCK_EXPORT_DELETED → `onExportDeleted`.
 */
export class NbdServer {
  readonly maxConnections: number;
  readonly handshakeTimeoutMs: number;
  private readonly exportsById = new Map<string, NbdExport>();
  private readonly connections = new Set<NbdConnection>();
  private readonly bound = new Map<NbdExport, Set<NbdConnection>>();
  private readonly onExportDeleted: (id: string) => void;
  private readonly host: ConnectionHost;

  constructor(options: NbdServerOptions = {}) {
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.onExportDeleted = options.onExportDeleted ?? (() => undefined);
    const lookup = (name: string) => this.liveExports().find((e) => e.name === name);
    this.host = {
      lookup,
      list: () => this.liveExports(),
      multiConn: this.maxConnections !== 1,
      bind: (connection, exp) => {
        if (exp.shuttingDown) return connection.abort();
        const set = this.bound.get(exp) ?? new Set<NbdConnection>();
        this.bound.set(exp, set);
        set.add(connection);
      },
      closed: (connection) => {
        this.connections.delete(connection);
        const exp = connection.export;
        if (exp) this.bound.get(exp)?.delete(connection);
      },
    };
  }

  /** Clients currently connected (in any phase). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Serves one client over a connected stream; returns false if the connection limit refused it. */
  handleConnection(stream: Duplex): boolean {
    if (this.maxConnections > 0 && this.connections.size >= this.maxConnections) {
      stream.destroy();
      return false;
    }
    const connection = new NbdConnection(stream, this.host, this.handshakeTimeoutMs);
    if (!connection.isClosed) this.connections.add(connection);
    return true;
  }

  /** `block-export-add` for NBD: validates, attaches and publishes the export. */
  addExport(graph: BlockGraph, options: NbdExportOptions): NbdExport {
    if (this.exportsById.has(options.id)) {
      throw new BlockError('exists', `Block export id '${options.id}' is already in use`);
    }
    const name = options.name ?? (typeof options.node === 'string' ? options.node : options.node.name);
    if (this.liveExports().some((e) => e.name === name)) {
      throw new BlockError('exists', `NBD server already has export named '${name}'`);
    }
    const exp = NbdExport.open(graph, options);
    this.exportsById.set(exp.id, exp);
    return exp;
  }

  /** The export with this id, if any. */
  getExport(id: string): NbdExport | undefined {
    return this.exportsById.get(id);
  }

  /**
   * `block-export-del`: `safe` refuses while clients are connected; `hard` drops them.
   * New clients can no longer pick the export at once. Resolves after the requests in
   * flight finished, the backend was released and `onExportDeleted` was called.
   */
  async removeExport(id: string, mode: ExportRemoveMode = 'safe'): Promise<void> {
    const exp = this.exportsById.get(id);
    if (!exp) throw new BlockError('not-found', `Export '${id}' is not found`);
    if (exp.shuttingDown) throw new BlockError('busy', `Export '${id}' is already shutting down`);
    const clients = [...(this.bound.get(exp) ?? [])];
    if (mode === 'safe' && clients.length > 0) {
      throw new BlockError('in-use', `export '${id}' still in use`);
    }
    exp.shuttingDown = true;
    for (const client of clients) client.abort();
    await Promise.all(clients.map((c) => c.settled()));
    this.bound.delete(exp);
    exp.release();
    this.exportsById.delete(id);
    this.onExportDeleted(id);
  }

  /** `query-block-exports`. */
  queryExports(): BlockExportInfo[] {
    return [...this.exportsById.values()].map((e) => e.info());
  }

  /** `nbd-server-stop`: drops every client and removes every export. */
  async stop(): Promise<void> {
    for (const connection of [...this.connections]) connection.abort();
    for (const id of [...this.exportsById.keys()]) {
      if (!this.exportsById.get(id)?.shuttingDown) await this.removeExport(id, 'hard');
    }
  }

  private liveExports(): NbdExport[] {
    return [...this.exportsById.values()].filter((e) => !e.shuttingDown);
  }
}
