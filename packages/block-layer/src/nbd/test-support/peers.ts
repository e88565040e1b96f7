import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const PACKAGE_OF: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  'qemu-io': 'qemu-utils',
  'qemu-nbd': 'qemu-utils',
  'qemu-storage-daemon': 'qemu-system-common',
  nbdinfo: 'libnbd-bin',
  nbdcopy: 'libnbd-bin',
};

/** A real NBD peer; a missing tool fails with the command that installs it. */
export async function peer(tool: keyof typeof PACKAGE_OF | string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(tool, args, { maxBuffer: 256 << 20, timeout: 60_000 });
    return stdout;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') {
      throw new Error(
        `${tool} is not installed: install it with 'apt-get install -y ${PACKAGE_OF[tool] ?? tool}'`,
      );
    }
    const e = error as { stderr?: string; stdout?: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr ?? ''}${e.stdout ?? ''}`, { cause: error });
  }
}

/** Starts a long-running peer (qemu-nbd, qemu-storage-daemon); a missing tool fails with the install command. */
export function spawnPeer(tool: string, args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.once('error', (error) => {
      if ((error as { code?: unknown }).code === 'ENOENT') {
        reject(
          new Error(
            `${tool} is not installed: install it with 'apt-get install -y ${PACKAGE_OF[tool] ?? tool}'`,
          ),
        );
      } else reject(error);
    });
    child.once('spawn', () => resolve(child));
  });
}

/** Waits until `check` stops throwing (a peer's socket appearing), up to `ms`. */
export async function waitFor(check: () => Promise<unknown> | unknown, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
