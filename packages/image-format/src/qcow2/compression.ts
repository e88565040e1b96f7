import { promisify } from 'node:util';
import { deflateRaw, inflateRaw, constants as zlibConstants } from 'node:zlib';
import { ImageError } from '../errors.js';
import { COMPRESSION_WINDOW_BITS } from './constants.js';

const inflateRawAsync = promisify(inflateRaw);
const deflateRawAsync = promisify(deflateRaw);

/**
 * Inflates one compressed cluster (raw DEFLATE, 4 KiB window). The input may carry trailing
 * bytes of a neighbour's data, and only the first `clusterSize` bytes of output count.
 */
export async function inflateCluster(
  input: Uint8Array,
  clusterSize: number,
  path: string,
): Promise<Uint8Array> {
  let out: Buffer;
  try {
    out = await inflateRawAsync(input, {
      windowBits: 15,
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      maxOutputLength: Math.max(clusterSize, 64),
    });
  } catch (cause) {
    throw new ImageError('corrupt', 'Could not decompress a compressed cluster', { path, cause });
  }
  if (out.length < clusterSize) {
    throw new ImageError('corrupt', 'A compressed cluster inflates to less than a cluster', { path });
  }
  return out.subarray(0, clusterSize);
}

/** Deflates a cluster the way QEMU does (raw DEFLATE, window bits 12, default level). */
export async function deflateCluster(input: Uint8Array): Promise<Uint8Array> {
  return deflateRawAsync(input, { windowBits: COMPRESSION_WINDOW_BITS });
}
