import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The package root (tools/img). */
export const packageRoot = join(here, '..', '..');
const binDir = join(packageRoot, 'bin');

/** What a finished process left behind. */
export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a process without blocking the test worker (a blocked worker misses the test runner's
 * messages on this loaded machine).
 */
function run(command: string, args: string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ status: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/**
 * Fails (never skips) when a real peer is missing, naming the package that provides it.
 * Called at the top of every integration test file.
 */
export function requirePeers(): void {
  for (const tool of ['qemu-img', 'qemu-io']) {
    const probe = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      throw new Error(`${tool} is required for these tests: install it with apt-get install -y qemu-utils`);
    }
  }
  for (const bin of ['strata-img.js', 'strata-io.js']) {
    const probe = spawnSync(process.execPath, [join(binDir, bin), '--help'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      throw new Error(`${bin} does not run: build the package first (pnpm --filter @strata/img run build)`);
    }
  }
}

/** Runs the built strata-img. */
export function strataImg(args: string[], cwd: string): Promise<RunResult> {
  return run(process.execPath, [join(binDir, 'strata-img.js'), ...args], cwd);
}

/** Runs the built strata-io. */
export function strataIo(args: string[], cwd: string): Promise<RunResult> {
  return run(process.execPath, [join(binDir, 'strata-io.js'), ...args], cwd);
}

/** Runs the real qemu-img. */
export function qemuImg(args: string[], cwd: string): Promise<RunResult> {
  return run('qemu-img', args, cwd);
}

/** Runs the real qemu-io. */
export function qemuIo(args: string[], cwd: string): Promise<RunResult> {
  return run('qemu-io', args, cwd);
}

/** Runs a command and throws with its output when it fails (for setting up scenarios). */
export async function must(pending: Promise<RunResult>, what: string): Promise<RunResult> {
  const result = await pending;
  if (result.status !== 0)
    throw new Error(`${what} failed (${result.status}): ${result.stderr}${result.stdout}`);
  return result;
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = 'strata-img-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** SHA-256 of a file, to prove it did not change. */
export function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** qemu-io's timing line, which differs run to run; everything else must match. */
export function withoutTiming(text: string): string {
  return text.replace(/^(.*), (\d+) ops; .* \(.*\/sec and .* ops\/sec\)$/gm, '$1, $2 ops; <timing>');
}
