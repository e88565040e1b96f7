/**
 * What a QMP session needs from a connection: a way to send bytes and to hang up, and optionally
 * to stop and restart reading (QEMU stops reading while requests are queued). Bytes come in through
 * {@link QmpSession.receive}; the end of input through {@link QmpSession.close}. No sockets here:
 * `net-transport.ts` adapts a `node:net` socket, tests use an in-memory pair.
 */
export interface QmpTransport {
  /** Sends bytes; must keep the order of calls. */
  write(data: Uint8Array): void;
  /** Closes the connection after everything written so far has been sent. */
  end(): void;
  /** Stops delivering input until {@link resume} (optional back-pressure). */
  pause?(): void;
  /** Delivers input again. */
  resume?(): void;
}
