import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs a QEMU tool; a missing tool fails with the command that installs it. */
export async function qemu(tool: 'qemu-img' | 'qemu-io', args: string[]): Promise<string> {
  try {
    const { stdout } = await run(tool, args, { maxBuffer: 64 << 20 });
    return stdout;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') {
      throw new Error(`${tool} is not installed: install it with 'apt-get install -y qemu-utils'`);
    }
    throw error;
  }
}

/** `qemu-img check --output=json`, parsed; rejects when qemu-img reports a problem. */
export async function qemuImgCheck(path: string): Promise<Record<string, unknown>> {
  let out: string;
  try {
    out = await qemu('qemu-img', ['check', '--output=json', path]);
  } catch (error) {
    const stdout = (error as { stdout?: string }).stdout;
    throw new Error(`qemu-img check failed for ${path}: ${stdout ?? String(error)}`);
  }
  return JSON.parse(out) as Record<string, unknown>;
}
