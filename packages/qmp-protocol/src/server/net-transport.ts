import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { QmpServer } from './server.js';
import type { QmpSession } from './session.js';

/** Binds one byte stream (a `node:net` socket, one end of an in-process pair) to a new session. */
export function attachSocket(server: QmpServer, socket: Duplex): QmpSession {
  const session = server.connect({
    write: (data) => {
      if (!socket.destroyed) socket.write(data);
    },
    end: () => socket.end(),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  });
  socket.on('data', (chunk: Buffer) => session.receive(chunk));
  socket.on('close', () => session.close());
  // The client ending its side ends the session (streams may allow half-open connections).
  socket.on('end', () => {
    session.close();
    socket.end();
  });
  // A reset connection is an ordinary end of session, not a server failure.
  socket.on('error', () => session.close());
  return session;
}

/** Where to listen: a unix socket path, or a TCP host and port. */
export type QmpListenAddress = { readonly path: string } | { readonly host?: string; readonly port: number };

/**
 * Listens on a unix socket or TCP port and serves every connection with `server`.
 * Resolves once listening; close the returned `net.Server` to stop.
 */
export async function listenQmp(server: QmpServer, address: QmpListenAddress): Promise<Server> {
  const listener = createServer((socket) => attachSocket(server, socket));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    const done = (): void => {
      listener.off('error', reject);
      resolve();
    };
    if ('path' in address) listener.listen(address.path, done);
    else listener.listen(address.port, address.host ?? '127.0.0.1', done);
  });
  return listener;
}
