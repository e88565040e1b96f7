import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { must, qemuImg, qemuIo } from './peers.js';

/** Writes with qemu-io into an image (format explicit). */
export async function ioWrite(dir: string, file: string, format: string, commands: string[]): Promise<void> {
  const args = ['-f', format];
  for (const c of commands) args.push('-c', c);
  await must(qemuIo([...args, file], dir), `qemu-io ${commands.join('; ')}`);
}

/** Creates an image with qemu-img. */
export async function create(dir: string, args: string[]): Promise<void> {
  await must(qemuImg(['create', '-q', ...args], dir), `qemu-img create ${args.join(' ')}`);
}

/**
 * A three-deep chain written by qemu-img and qemu-io: base.qcow2 <- mid.qcow2 <- top.qcow2, with
 * data in every layer, zero clusters, ranges shadowed by upper layers and unaligned writes.
 */
export async function buildChain(dir: string): Promise<void> {
  await create(dir, ['-f', 'qcow2', 'base.qcow2', '16M']);
  await ioWrite(dir, 'base.qcow2', 'qcow2', ['write -P 1 0 2M', 'write -P 2 4M 1M', 'write -P 9 12M 4k']);
  await create(dir, ['-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2']);
  await ioWrite(dir, 'mid.qcow2', 'qcow2', ['write -P 3 1M 2M', 'write -z 4M 512k', 'write -P 7 7M 3000']);
  await create(dir, ['-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2']);
  await ioWrite(dir, 'top.qcow2', 'qcow2', ['write -P 4 0 64k', 'write -P 5 10M 100k', 'write -z 12M 64k']);
}

/**
 * A chain whose lower layers allocate every cluster, so committing writes in place and the
 * result does not depend on the order writes complete in: qemu-img commit runs its copies
 * concurrently, and where it allocates new clusters its layout varies from run to run.
 */
export async function buildAllocatedChain(dir: string): Promise<void> {
  await create(dir, ['-f', 'qcow2', 'base.qcow2', '16M']);
  await ioWrite(dir, 'base.qcow2', 'qcow2', ['write -P 1 0 16M']);
  await create(dir, ['-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2']);
  await ioWrite(dir, 'mid.qcow2', 'qcow2', ['write -P 3 0 16M']);
  await create(dir, ['-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2']);
  // No zero writes: qemu punches holes where it frees clusters, which the library does not do.
  await ioWrite(dir, 'top.qcow2', 'qcow2', ['write -P 4 0 64k', 'write -P 5 10M 100k', 'write -P 6 5M 3000']);
}

/** Copies every file of `from` into `to` (both tools then work on identical inputs). */
export function copyDir(from: string, to: string): void {
  for (const name of readdirSync(from)) copyFileSync(join(from, name), join(to, name));
}
