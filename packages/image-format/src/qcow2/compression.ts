import { ImageError } from '../errors.js';
import { COMPRESSION_WINDOW_BITS } from './constants.js';

type Zlib = typeof import('node:zlib');
type ZlibOptions = import('node:zlib').ZlibOptions;
type Codec = (input: Uint8Array, options: ZlibOptions) => Promise<Buffer>;

interface ZlibCodecs {
  zlib: Zlib;
  inflateRaw: Codec;
  deflateRaw: Codec;
  zstdCompress: (input: Uint8Array) => Promise<Buffer>;
}

// node:zlib (and node:util, whose ESM facade drags in dozens of internal modules) are the
// largest costs of importing this package, while most callers (info, map, plain reads and
// writes) never touch a compressed cluster: load zlib on first use only, and wrap its
// callbacks by hand instead of importing promisify.
let codecs: Promise<ZlibCodecs> | undefined;

function loadZlib(): Promise<ZlibCodecs> {
  codecs ??= import('node:zlib').then((zlib) => ({
    zlib,
    inflateRaw: (input, options) =>
      new Promise((resolve, reject) =>
        zlib.inflateRaw(input, options, (e, out) => (e ? reject(e) : resolve(out))),
      ),
    deflateRaw: (input, options) =>
      new Promise((resolve, reject) =>
        zlib.deflateRaw(input, options, (e, out) => (e ? reject(e) : resolve(out))),
      ),
    zstdCompress: (input) =>
      new Promise((resolve, reject) => zlib.zstdCompress(input, (e, out) => (e ? reject(e) : resolve(out)))),
  }));
  return codecs;
}

/** The compression_type header field: 0 = zlib (raw DEFLATE), 1 = zstd. */
export type CompressionType = 0 | 1;

/** Whether this Node.js has zstd (Node 22.15 / 23.8 and later). Loads node:zlib. */
export async function zstdAvailable(): Promise<boolean> {
  const { zlib } = await loadZlib();
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
    const { zlib, inflateRaw } = await loadZlib();
    out =
      type === 1
        ? await zstdFirstBytes(zlib, input, clusterSize)
        : await inflateRaw(input, {
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
  const { deflateRaw, zstdCompress } = await loadZlib();
  if (type === 1) return zstdCompress(input);
  return deflateRaw(input, { windowBits: COMPRESSION_WINDOW_BITS });
}

/** Streams zstd output until `wanted` bytes exist; whatever follows in the input is ignored. */
function zstdFirstBytes(zlib: Zlib, input: Uint8Array, wanted: number): Promise<Uint8Array> {
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
