import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { mustRun } from '../qcow2/test-support/qemu-peers.js';

export { makeTempDir, mustRun, qemuImgCheck, runPeer } from '../qcow2/test-support/qemu-peers.js';

/** The guest bytes of an image as qemu-img sees them (through its backing chain). */
export async function qemuReadRaw(path: string, format: 'qcow2' | 'raw', scratch: string): Promise<Buffer> {
  await mustRun('qemu-img', ['convert', '-f', format, '-O', 'raw', path, scratch]);
  return readFile(scratch);
}

/** `qemu-img map --output=json` parsed. */
export async function qemuMap(path: string): Promise<Array<Record<string, unknown>>> {
  return JSON.parse(await mustRun('qemu-img', ['map', '-f', 'qcow2', '--output=json', path])) as Array<
    Record<string, unknown>
  >;
}

/** SHA-256 of a file, to prove a failed open changed nothing. */
export async function fileHash(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}
