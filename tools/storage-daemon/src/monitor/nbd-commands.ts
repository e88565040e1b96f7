import {
  BlockError,
  type BlockGraph,
  listenNbd,
  type NbdExportBitmap,
  type NbdListenAddress,
  type NbdListener,
  NbdServer,
} from '@strata/block-layer';
import type { JsonObject, QmpServer } from '@strata/qmp-protocol';
import type { Register } from './monitor.js';

/**
 * The daemon's one NBD server (QEMU has a single one per process) and its exports: the state
 * behind `nbd-server-start`/`-stop`, `block-export-add`/`-del`, `query-block-exports` and the
 * `--nbd-server`/`--export` options.
 */
export class NbdService {
  private server: NbdServer | null = null;
  private listener: NbdListener | null = null;

  constructor(
    private readonly graph: BlockGraph,
    private readonly qmp: QmpServer,
  ) {}

  /** Starts the server on an address (QEMU's SocketAddress, flat form). */
  async start(address: NbdListenAddress, maxConnections?: number, tls = false): Promise<void> {
    if (this.server) throw new BlockError('exists', 'NBD server already running');
    // Serving in clear text when TLS was asked for would be worse than refusing.
    if (tls)
      throw new BlockError(
        'invalid-argument',
        'TLS is not supported by the strata-storage-daemon NBD server',
      );
    const server = new NbdServer({
      ...(maxConnections !== undefined ? { maxConnections } : {}),
      onExportDeleted: (id) => this.qmp.emitEvent('BLOCK_EXPORT_DELETED', { id }),
    });
    this.listener = await listenNbd(server, address);
    this.server = server;
  }

  /** Stops the server: no new clients, every export removed. */
  async stop(): Promise<void> {
    const server = this.requireServer();
    await this.listener?.close();
    this.listener = null;
    this.server = null;
    await server.stop();
  }

  /** `block-export-add` of type nbd (and `--export type=nbd`). */
  addExport(args: JsonObject): void {
    const node = String(args['node-name']);
    // QEMU resolves the node before it looks for the server.
    if (!this.graph.find(node)) {
      throw new BlockError('not-found', `Cannot find device='' nor node-name='${node}'`);
    }
    const server = this.requireServer();
    const bitmaps = (args['bitmaps'] ?? []) as unknown as NbdExportBitmap[];
    server.addExport(this.graph, {
      id: String(args['id']),
      node,
      ...(typeof args['name'] === 'string' ? { name: args['name'] } : {}),
      ...(typeof args['description'] === 'string' ? { description: args['description'] } : {}),
      ...(args['writable'] !== undefined ? { writable: args['writable'] === true } : {}),
      ...(bitmaps.length > 0 ? { bitmaps } : {}),
      ...(args['allocation-depth'] !== undefined
        ? { allocationDepth: args['allocation-depth'] === true }
        : {}),
    });
  }

  async removeExport(id: string, mode: 'safe' | 'hard' | undefined): Promise<void> {
    const server = this.server;
    if (!server?.getExport(id)) throw new BlockError('not-found', `Export '${id}' is not found`);
    await server.removeExport(id, mode ?? 'safe');
  }

  queryExports(): JsonObject[] {
    return (this.server?.queryExports() ?? []) as unknown as JsonObject[];
  }

  /** Shutdown: stops the server if it runs, dropping its clients. */
  async close(): Promise<void> {
    if (this.server) await this.stop();
  }

  private requireServer(): NbdServer {
    if (!this.server) throw new BlockError('not-found', 'NBD server not running');
    return this.server;
  }
}

/** QMP's legacy address form of `nbd-server-start` (`{type, data: {...}}`) made flat. */
export function flattenLegacyAddress(addr: JsonObject): NbdListenAddress {
  const data = (addr['data'] ?? {}) as JsonObject;
  if (addr['type'] === 'unix') return { type: 'unix', path: String(data['path']) };
  if (addr['type'] === 'inet')
    return { type: 'inet', host: String(data['host']), port: String(data['port']) };
  throw new BlockError(
    'invalid-argument',
    `NBD server address type '${String(addr['type'])}' is not supported`,
  );
}

/** QEMU's flat SocketAddress (`--nbd-server addr.type=unix,addr.path=...`). */
export function flatAddress(addr: JsonObject): NbdListenAddress {
  if (addr['type'] === 'unix') return { type: 'unix', path: String(addr['path']) };
  if (addr['type'] === 'inet')
    return { type: 'inet', host: String(addr['host']), port: String(addr['port']) };
  throw new BlockError(
    'invalid-argument',
    `NBD server address type '${String(addr['type'])}' is not supported`,
  );
}

/** `nbd-server-start`/`-stop`, `block-export-add`/`-del` and `query-block-exports`. */
export function registerNbdCommands(on: Register, nbd: NbdService): void {
  on('nbd-server-start', async (args) => {
    const max = args['max-connections'];
    await nbd.start(
      flattenLegacyAddress(args['addr'] as JsonObject),
      typeof max === 'number' ? max : undefined,
      args['tls-creds'] !== undefined || args['tls-authz'] !== undefined,
    );
  });
  on('nbd-server-stop', async () => {
    await nbd.stop();
  });
  on('block-export-add', (args) => {
    nbd.addExport(args);
  });
  on('block-export-del', async (args) => {
    const mode = args['mode'];
    await nbd.removeExport(String(args['id']), mode === 'hard' || mode === 'safe' ? mode : undefined);
  });
  on('query-block-exports', () => nbd.queryExports());
}
