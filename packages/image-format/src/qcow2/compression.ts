import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { ImageError } from '../errors.js';
import { COMPRESSION_WINDOW_BITS } from './constants.js';

const inflateRawAsync = promisify(zlib.inflateRaw);
const deflateRawAsync = promisify(zlib.deflateRaw);

/** The compression_type header field: 0 = zlib (raw DEFLATE), 1 = zstd. */
export type CompressionType = 0 | 1;

/** Whether this Node.js has zstd (Node 22.15 / 23.8 and later). */
export function zstdAvailable(): boolean {
  return typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
}

/**
 * Decompresses one compressed cluster. The input may carry trailing bytes of a neighbour's
 * data (the descriptor names whole sectors), so only the first `clusterSize` bytes of output
 * count, as in QEMU.
 */
export async function inflateCluster(
  input: Uint8Array,
  clusterSize: number,
  path: string,
  type: CompressionType = 0,
): Promise<Uint8Array> {
  let out: Uint8Array;
  try {
    out =
      type === 1
        ? await zstdFirstBytes(input, clusterSize)
        : await inflateRawAsync(input, {
            windowBits: 15,
            finishFlush: zlib.constants.Z_SYNC_FLUSH,
            maxOutputLength: Math.max(clusterSize, 64),
          });
  } catch (cause) {
    throw new ImageError('corrupt', 'Could not decompress a compressed cluster', { path, cause });
  }
  if (out.length < clusterSize) {
    throw new ImageError('corrupt', 'A compressed cluster decompresses to less than a cluster', { path });
  }
  return out.subarray(0, clusterSize);
}

/** Compresses a cluster as QEMU does: raw DEFLATE with window bits 12, or a zstd frame. */
export async function deflateCluster(input: Uint8Array, type: CompressionType = 0): Promise<Uint8Array> {
  if (type === 1) return promisify(zlib.zstdCompress)(input);
  return deflateRawAsync(input, { windowBits: COMPRESSION_WINDOW_BITS });
}

/** Streams zstd output until `wanted` bytes exist; whatever follows in the input is ignored. */
function zstdFirstBytes(input: Uint8Array, wanted: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const stream = zlib.createZstdDecompress();
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      stream.destroy();
      resolve(Buffer.concat(chunks, total));
    };
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      chunks.push(chunk);
      total += chunk.length;
      if (total >= wanted) finish();
    });
    stream.on('error', (e) => {
      if (total >= wanted) finish();
      else if (!settled) {
        settled = true;
        reject(e);
      }
    });
    stream.on('end', finish);
    stream.end(input);
  });
}
