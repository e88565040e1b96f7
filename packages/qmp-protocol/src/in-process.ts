import { duplexPair } from 'node:stream';
import { QmpClient, type QmpClientOptions } from './client/client.js';
import { attachSocket } from './server/net-transport.js';
import type { QmpServer } from './server/server.js';

/**
 * A client talking to `server` inside the same process over an in-memory byte stream: the full
 * protocol (greeting, negotiation, JSON framing) without a socket file or port. For embedding a
 * server and for tests.
 */
export function connectInProcess(server: QmpServer, options: QmpClientOptions = {}): Promise<QmpClient> {
  const [clientEnd, serverEnd] = duplexPair();
  attachSocket(server, serverEnd);
  return QmpClient.fromStream(clientEnd, options);
}
