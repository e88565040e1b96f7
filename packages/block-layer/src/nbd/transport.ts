import { existsSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { NbdServer } from './server.js';

/** Where an NBD server listens: QMP's SocketAddress subset for unix and TCP. */
export type NbdListenAddress =
  | { type: 'unix'; path: string }
  | { type: 'inet'; host: string; port: number | string };

/** A listening socket feeding an {@link NbdServer}. */
export interface NbdListener {
  /** The bound address (the real port when port 0 was asked for). */
  readonly address: NbdListenAddress;
  /** Stops accepting; connected clients are left to the server. */
  close(): Promise<void>;
}

/** Listens on a unix socket or TCP port and hands each connection to `server`. */
export async function listenNbd(server: NbdServer, address: NbdListenAddress): Promise<NbdListener> {
  const socketServer: Server = createServer({ noDelay: true }, (socket) => {
    server.handleConnection(socket);
  });
  // A listener must never take the process down; failed accepts are just dropped.
  socketServer.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socketServer.once('error', reject);
    if (address.type === 'unix') socketServer.listen(address.path, resolve);
    else socketServer.listen(Number(address.port), address.host, resolve);
  });
  let bound: NbdListenAddress = address;
  const info = socketServer.address();
  if (address.type === 'inet' && info && typeof info === 'object') {
    bound = { type: 'inet', host: address.host, port: info.port };
  }
  return {
    address: bound,
    close: () =>
      new Promise<void>((resolve) => {
        // close() only stops accepting here; its callback would wait for every client.
        socketServer.close();
        if (address.type === 'unix' && existsSync(address.path)) {
          try {
            unlinkSync(address.path);
          } catch {
            // already gone
          }
        }
        resolve();
      }),
  };
}
