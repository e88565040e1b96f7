import type { QmpServer } from '../server/server.js';
import type { QmpSession } from '../server/session.js';

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** An in-memory connection to a server: collects what the server writes. */
export class MemoryConnection {
  readonly session: QmpSession;
  private output = '';
  ended = false;

  constructor(server: QmpServer) {
    this.session = server.connect({
      write: (data) => {
        this.output += text.decode(data);
      },
      end: () => {
        this.ended = true;
      },
    });
  }

  /** Sends bytes (a string is UTF-8 encoded) to the server. */
  send(data: string | Uint8Array): void {
    this.session.receive(typeof data === 'string' ? utf8.encode(data) : data);
  }

  /** Everything written since the last call. */
  take(): string {
    const out = this.output;
    this.output = '';
    return out;
  }

  /** Waits until pending handlers have run (they are promise-based). */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  }
}
