import type { ImageDriver } from '../driver.js';
import { MemoryFile } from '../image-file.js';
import { type CreateQcow2Options, createQcow2 } from '../qcow2/create.js';
import { Qcow2Image } from '../qcow2/image.js';

/** A fresh qcow2 image in memory, created exactly as createQcow2 writes it to disk. */
export async function memoryQcow2(options: CreateQcow2Options, name = 'memory.qcow2'): Promise<MemoryFile> {
  const file = new MemoryFile(name);
  await createQcow2(file, options);
  return file;
}

/** Opens a qcow2 image over a memory file, optionally over a backing image. */
export function openMemoryQcow2(file: MemoryFile, backing: ImageDriver | null = null): Promise<Qcow2Image> {
  return Qcow2Image.open(file, { backing });
}

/** Deterministic bytes for a write: every byte depends on the seed and its position. */
export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Reads the whole guest disk. */
export async function readAll(image: ImageDriver): Promise<Uint8Array> {
  const out = new Uint8Array(image.virtualSize);
  await image.read(out, 0);
  return out;
}
