import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a peer tool printed and how it exited. */
export interface PeerResult {
  code: number;
  stdout: string;
  stderr: string;
}

const INSTALL: Record<string, string> = {
  'qemu-img': 'apt-get install -y qemu-utils',
  'qemu-io': 'apt-get install -y qemu-utils',
  'qemu-nbd': 'apt-get install -y qemu-utils',
  nbdinfo: 'apt-get install -y libnbd-bin',
};

/**
 * Runs a real peer (qemu-img, qemu-io, ...). A missing tool is a failure whose message
 * says how to install it, never a silent skip.
 */
export function runPeer(tool: string, args: string[]): Promise<PeerResult> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(
          new Error(
            `${tool} is not installed; install it with: ${INSTALL[tool] ?? `apt-get install ${tool}`}`,
          ),
        );
        return;
      }
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a peer and fails with its stderr when it exits non-zero. */
export async function mustRun(tool: string, args: string[]): Promise<string> {
  const result = await runPeer(tool, args);
  if (result.code !== 0)
    throw new Error(`${tool} ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** A temporary directory under the OS temp dir, removed by `cleanup`. */
export async function makeTempDir(
  prefix: string,
): Promise<{ dir: string; path: (name: string) => string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** `qemu-img check --output=json` (optionally with -r), with its exit code; fails when qemu-img printed no report. */
export async function qemuImgCheck(
  path: string,
  repair?: 'leaks' | 'all',
): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  const result = await qemuImgCheckRaw(path, repair);
  if (result.json === null) {
    throw new Error(`qemu-img check printed no JSON (exit ${result.code}): ${result.stderr}`);
  }
  return { ...result, json: result.json };
}

/** Like {@link qemuImgCheck}, with `json` null when qemu-img gave up ("Check failed: ..."). */
export async function qemuImgCheckRaw(
  path: string,
  repair?: 'leaks' | 'all',
): Promise<{ code: number; json: Record<string, unknown> | null; stderr: string }> {
  const args = ['check', '-f', 'qcow2', '--output=json'];
  if (repair) args.push('-r', repair);
  args.push(path);
  const result = await runPeer('qemu-img', args);
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { code: result.code, json, stderr: result.stderr };
}
