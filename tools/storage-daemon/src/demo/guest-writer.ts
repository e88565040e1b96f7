import { NbdClient } from '@strata/block-layer';

/** Size of one guest write, and of one block of the model. */
export const BLOCK = 64 * 1024;

/**
 * The contents of block `block` after write number `seq`: every 8 bytes hold the two
 * numbers, so a misplaced or stale block is told apart from the right one.
 */
export function blockPattern(seq: number, block: number): Uint8Array {
  const buf = new Uint8Array(BLOCK);
  const view = new DataView(buf.buffer);
  for (let at = 0; at < BLOCK; at += 8) {
    view.setUint32(at, seq);
    view.setUint32(at + 4, block);
  }
  return buf;
}

/**
 * A guest that keeps writing known patterns through an NBD export, one write at a time,
 * and remembers the last acknowledged write of every block: that is what the disk must
 * hold wherever it ends up.
 */
export class GuestWriter {
  /** Block index → sequence number of the last acknowledged write (0: the initial contents). */
  readonly acknowledged = new Map<number, number>();
  bytesWritten = 0;
  writes = 0;
  private seq: number;
  private running: Promise<void> | null = null;
  private stopping = false;
  private failure: Error | null = null;

  constructor(
    private readonly client: NbdClient,
    private readonly blocks: number,
    initial: ReadonlyMap<number, number>,
    /** Pause between writes, so the demo's jobs keep up with the guest. */
    private readonly pauseMs = 2,
  ) {
    for (const [block, seq] of initial) this.acknowledged.set(block, seq);
    this.seq = Math.max(0, ...initial.values()) + 1;
  }

  /** Connects to the export on a unix socket. */
  static async connect(
    socket: string,
    exportName: string,
    blocks: number,
    initial: ReadonlyMap<number, number>,
  ): Promise<GuestWriter> {
    const client = await NbdClient.connect({ server: { type: 'unix', path: socket }, exportName });
    return new GuestWriter(client, blocks, initial);
  }

  start(): void {
    // A failed write ends the loop; the failure is reported by the next wait or stop.
    this.running ??= this.loop().catch((error: unknown) => {
      this.failure = error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Resolves once `count` more writes have been acknowledged. */
  async waitForWrites(count: number): Promise<void> {
    const target = this.writes + count;
    while (this.writes < target) {
      if (this.failure) throw this.failure;
      if (!this.running) throw new Error('the guest writer is not running');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Stops after the write in flight, flushes, and closes the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    if (this.failure) {
      await this.client.close().catch(() => undefined);
      throw this.failure;
    }
    await this.client.flush();
    await this.client.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const block = Math.floor(Math.random() * this.blocks);
      const seq = this.seq++;
      await this.client.write(blockPattern(seq, block), block * BLOCK);
      // Only now is the write acknowledged, and only now does the model expect it.
      this.acknowledged.set(block, seq);
      this.writes++;
      this.bytesWritten += BLOCK;
      if (this.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    }
  }
}
