import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const INSTALL_HINT = 'qemu-storage-daemon not found: install it with `apt-get install -y qemu-system-common`';

/** Path of the real qemu-storage-daemon; throws (failing the test) with the install command if missing. */
export function requireStorageDaemon(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v qemu-storage-daemon'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(INSTALL_HINT);
  }
}

/** A running qemu-storage-daemon with a QMP monitor on a unix socket in its own temp directory. */
export interface RunningDaemon {
  readonly dir: string;
  readonly socketPath: string;
  stop(): Promise<void>;
}

/** Starts the daemon exactly as `--chardev socket,...,server=on,wait=off --monitor chardev=m`. */
export async function startStorageDaemon(extraArgs: string[] = []): Promise<RunningDaemon> {
  const binary = requireStorageDaemon();
  const dir = await mkdtemp(join(tmpdir(), 'strata-qsd-'));
  const socketPath = join(dir, 'qmp.sock');
  const child: ChildProcess = spawn(
    binary,
    [
      '--chardev',
      `socket,id=m,path=${socketPath},server=on,wait=off`,
      '--monitor',
      'chardev=m',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 200 && !existsSync(socketPath); i++) {
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (!existsSync(socketPath)) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`qemu-storage-daemon did not create its QMP socket: ${stderr}`);
  }
  return {
    dir,
    socketPath,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A raw byte connection to a QMP server: sends exact bytes and collects exact output. A step's
 * output is complete when the expected number of CR LF-terminated lines has arrived (or, for
 * steps whose reply count is unknown, when the connection stays quiet).
 */
export class RawQmpConnection {
  private buffer = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (const waiter of this.waiters.splice(0)) waiter();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const waiter of this.waiters.splice(0)) waiter();
    });
  }

  static open(socketPath: string): Promise<RawQmpConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath, () => resolve(new RawQmpConnection(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Waits for `lines` complete lines (at most `limitMs`), then takes everything received. */
  async take(lines: number, limitMs = 5000): Promise<string> {
    const deadline = Date.now() + limitMs;
    while (this.countLines() < lines && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const out = this.buffer;
    this.buffer = '';
    return out;
  }

  /** Waits until a line containing `marker` has arrived (at most `limitMs`), then takes everything. */
  async takeUntil(marker: string, limitMs = 5000): Promise<string> {
    const deadline = Date.now() + limitMs;
    while (!this.buffer.includes(marker) && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const out = this.buffer;
    this.buffer = '';
    return out;
  }

  private countLines(): number {
    return this.buffer.split('\r\n').length - 1;
  }

  close(): void {
    this.socket.destroy();
  }
}
