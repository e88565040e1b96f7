import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { QmpClient } from '@strata/qmp-protocol';
import { connectMonitor } from '../demo/monitor-connection.js';

const run = promisify(execFile);

/** The two implementations every differential scenario runs against. */
export const DAEMONS = ['qemu-storage-daemon', 'strata-storage-daemon'] as const;
/** One of {@link DAEMONS}. */
export type DaemonKind = (typeof DAEMONS)[number];

const STRATA_BIN = fileURLToPath(new URL('../../bin/strata-storage-daemon.js', import.meta.url));

const INSTALL_HINT: Record<string, string> = {
  'qemu-storage-daemon': 'apt-get install -y qemu-system-common',
  'qemu-img': 'apt-get install -y qemu-utils',
  'qemu-io': 'apt-get install -y qemu-utils',
};

/** Runs a peer tool; a missing tool fails with the command that installs it. */
export async function tool(
  name: string,
  args: readonly string[],
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(name, [...args], { maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${name} is not installed: run \`${INSTALL_HINT[name] ?? `apt-get install ${name}`}\``);
    }
    throw error;
  }
}

/** The command line that starts a daemon of that kind. */
export function daemonCommand(kind: DaemonKind, args: readonly string[]): [string, string[]] {
  return kind === 'qemu-storage-daemon' ? [kind, [...args]] : [process.execPath, [STRATA_BIN, ...args]];
}

/** Runs a daemon to completion (for option errors, --help, --version). */
export function runDaemon(
  kind: DaemonKind,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command, argv] = daemonCommand(kind, args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(`${kind} is not installed: run \`${INSTALL_HINT[kind]}\``)
          : error,
      ),
    );
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A daemon started with a QMP monitor on a unix socket, and a negotiated client. */
export interface DaemonSession {
  readonly kind: DaemonKind;
  readonly client: QmpClient;
  readonly process: ChildProcess;
  readonly socket: string;
  /** Sends `quit` and waits for the process to exit; returns its exit code and stderr. */
  quit(): Promise<{ code: number | null; stderr: string }>;
  /** Sends a signal and waits for the process to exit. */
  kill(
    signal: NodeJS.Signals,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts a daemon with a monitor socket in `dir`, plus `extra` options, and negotiates. */
export async function startDaemon(
  kind: DaemonKind,
  dir: string,
  extra: readonly string[] = [],
  negotiate = true,
): Promise<DaemonSession> {
  const socket = join(dir, `${kind}.qmp`);
  const [command, argv] = daemonCommand(kind, [
    '--chardev',
    `socket,id=mon0,path=${socket},server=on,wait=off`,
    '--monitor',
    'chardev=mon0',
    ...extra,
  ]);
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let spawnError: Error | undefined;
  child.on('error', (error: NodeJS.ErrnoException) => {
    spawnError =
      error.code === 'ENOENT' ? new Error(`${kind} is not installed: run \`${INSTALL_HINT[kind]}\``) : error;
  });
  let client: QmpClient;
  try {
    for (let i = 0; ; i++) {
      if (spawnError) throw spawnError;
      if (child.exitCode !== null) throw new Error(`${kind} exited at startup: ${stderr}`);
      if (
        await stat(socket).then(
          () => true,
          () => false,
        )
      )
        break;
      if (i > 500) throw new Error(`${kind} did not create its monitor socket: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    client = await connectMonitor(socket, { commandTimeoutMs: 60_000, negotiate });
  } catch (error) {
    // A daemon that failed to start must not outlive the test that started it.
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
  return {
    kind,
    client,
    process: child,
    socket,
    async quit() {
      await client.executeRaw('quit').catch(() => undefined);
      const { code } = await exited;
      await client.close();
      return { code, stderr };
    },
    async kill(signal) {
      child.kill(signal);
      const result = await exited;
      await client.close();
      return { ...result, stderr };
    },
  };
}

/** A temporary directory for one scenario, removed by the returned function. */
export async function scratch(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-sd-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** `qemu-img check` as JSON: asserts nothing, returns what a scenario compares. */
export async function checkImage(
  path: string,
): Promise<{ errors: number; leaks: number; corruptions: number }> {
  const result = await run('qemu-img', ['check', '--output=json', path]).catch(
    (error: { stdout?: string; code?: string }) => {
      if (error.code === 'ENOENT')
        throw new Error(`qemu-img is not installed: run \`${INSTALL_HINT['qemu-img']}\``);
      return { stdout: error.stdout ?? '{}' };
    },
  );
  const report = JSON.parse(result.stdout) as {
    'check-errors'?: number;
    leaks?: number;
    corruptions?: number;
  };
  return {
    errors: report['check-errors'] ?? 0,
    leaks: report.leaks ?? 0,
    corruptions: report.corruptions ?? 0,
  };
}

/** `qemu-img info` as JSON. */
export async function imageInfo(path: string): Promise<Record<string, unknown>> {
  const { stdout } = await tool('qemu-img', ['info', '--output=json', '-U', path]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** Creates a qcow2 image (optionally over a backing file). */
export async function createImage(path: string, size: string, backing?: string): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2'];
  if (backing !== undefined) args.push('-F', 'qcow2', '-b', backing);
  await tool('qemu-img', [...args, path, ...(backing === undefined ? [size] : [])]);
}

/** Writes a byte pattern with qemu-io (the guest's writes, done before or after the daemon runs). */
export async function writePattern(
  path: string,
  pattern: number,
  offset: number,
  length: number,
): Promise<void> {
  await tool('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offset} ${length}`, path]);
}

/** True when qemu-io reads `pattern` over the range. */
export async function readsPattern(
  path: string,
  pattern: number,
  offset: number,
  length: number,
): Promise<boolean> {
  const args = ['-r', '-f', 'qcow2', '-c', `read -P ${pattern} ${offset} ${length}`, path];
  // qemu-io exits 1 when the pattern does not match; any other failure is an error.
  const { stdout } = await tool('qemu-io', args).catch((error: { stdout?: string }) => {
    if (error.stdout?.includes('Pattern verification failed')) return { stdout: error.stdout };
    throw error;
  });
  return !stdout.includes('Pattern verification failed');
}
