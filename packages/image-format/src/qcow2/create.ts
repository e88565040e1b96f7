import { dirname, resolve } from 'node:path';
import { ImageError } from '../errors.js';
import { HostFile, type ImageFile } from '../image-file.js';
import {
  COMPAT_LAZY_REFCOUNTS,
  INCOMPAT_COMPRESSION,
  MAX_CLUSTER_BITS,
  MIN_CLUSTER_BITS,
  V2_HEADER_LENGTH,
  V3_HEADER_LENGTH,
} from './constants.js';
import { type Qcow2Header, serializeHeader } from './header.js';
import { Qcow2Image } from './image.js';

/** Options for {@link createQcow2}, named like qemu-img's `-o` options. */
export interface CreateQcow2Options {
  /** Virtual size in bytes (rounded up to 512). Optional when a backing file gives it. */
  size?: number;
  /** '1.1' (version 3, default) or '0.10' (version 2). */
  compat?: '0.10' | '1.1';
  /** 512 B to 2 MiB, a power of two; default 64 KiB. */
  clusterSize?: number;
  /** 1, 2, 4, 8, 16 (default), 32 or 64; version 2 allows 16 only. */
  refcountBits?: number;
  lazyRefcounts?: boolean;
  /** Backing file name as it is recorded (relative names are relative to the new image). */
  backingFile?: string;
  /** The backing file's format, recorded in the image. */
  backingFormat?: 'qcow2' | 'raw';
  /** Compression of clusters written compressed: 'zlib' (default) or 'zstd' (compat 1.1 only). */
  compressionType?: 'zlib' | 'zstd';
  /** 'metadata' allocates L2 tables and data clusters without writing data. */
  preallocation?: 'off' | 'metadata';
  /**
   * Size of the backing image, needed when `size` is omitted and `target` is not a path
   * (with a path, the backing image is opened to read it).
   */
  backingSize?: number;
}

function invalid(message: string): never {
  throw new ImageError('invalid-argument', message);
}

/**
 * Creates a qcow2 image with the layout `qemu-img create -f qcow2` writes: header (and
 * extensions, and the backing name) in cluster 0, the refcount table in cluster 1, the first
 * refcount block in cluster 2, the L1 table from cluster 3, and no padding after it.
 * `target` is a path (created or truncated) or an empty writable {@link ImageFile}.
 */
export async function createQcow2(target: string | ImageFile, options: CreateQcow2Options): Promise<void> {
  const compat = options.compat ?? '1.1';
  if (compat !== '0.10' && compat !== '1.1') invalid(`Invalid compatibility level: '${String(compat)}'`);
  const version = compat === '0.10' ? 2 : 3;
  const clusterSize = options.clusterSize ?? 65536;
  const clusterBits = Math.log2(clusterSize);
  if (!Number.isInteger(clusterBits) || clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    invalid('Cluster size must be a power of two between 512 and 2048k');
  }
  const refcountBits = options.refcountBits ?? 16;
  const refcountOrder = Math.log2(refcountBits);
  if (!Number.isInteger(refcountOrder) || refcountOrder < 0 || refcountOrder > 6) {
    invalid('Refcount width must be a power of two and may not exceed 64 bits');
  }
  if (version === 2 && refcountBits !== 16) {
    invalid(
      'Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)',
    );
  }
  if (version === 2 && options.lazyRefcounts) {
    invalid(
      'Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)',
    );
  }
  const zstd = options.compressionType === 'zstd';
  if (options.compressionType !== undefined && options.compressionType !== 'zlib' && !zstd) {
    invalid(`Unknown compression type '${String(options.compressionType)}'`);
  }
  if (zstd && version === 2) {
    invalid('Compression type zstd requires compatibility level 1.1 or above (use compat=1.1 or greater)');
  }
  if (options.backingFormat !== undefined && options.backingFile === undefined) {
    invalid('Backing file format specified without a backing file');
  }
  if (options.backingFile !== undefined && options.preallocation === 'metadata') {
    invalid('Backing file and preallocation can only be used at the same time if extended_l2 is on');
  }
  let size = options.size;
  if (size === undefined) {
    size = options.backingSize;
    if (size === undefined && options.backingFile !== undefined && typeof target === 'string') {
      size = await backingVirtualSize(target, options.backingFile, options.backingFormat);
    }
    if (size === undefined) invalid('Image creation needs a size parameter');
  }
  if (!Number.isSafeInteger(size) || size < 0) invalid('Invalid image size');
  size = Math.ceil(size / 512) * 512;

  const file =
    typeof target === 'string' ? await HostFile.open(target, { create: true, truncate: true }) : target;
  try {
    const header: Qcow2Header = {
      version,
      backingFileOffset: 0,
      backingFileSize: 0,
      clusterBits,
      size: 0,
      cryptMethod: 0,
      l1Size: 0,
      l1TableOffset: 0,
      refcountTableOffset: clusterSize,
      refcountTableClusters: 1,
      nbSnapshots: 0,
      snapshotsOffset: 0,
      incompatibleFeatures: zstd ? INCOMPAT_COMPRESSION : 0n,
      compatibleFeatures: options.lazyRefcounts ? COMPAT_LAZY_REFCOUNTS : 0n,
      autoclearFeatures: 0n,
      refcountOrder,
      headerLength: version === 2 ? V2_HEADER_LENGTH : V3_HEADER_LENGTH,
      compressionType: zstd ? 1 : 0,
      unknownHeaderFields: new Uint8Array(0),
      backingFile: options.backingFile ?? null,
      backingFormat: options.backingFormat ?? null,
      dataFile: null,
      featureNames: [],
      bitmaps: null,
      cryptoHeader: null,
      unknownExtensions: [],
    };
    // Cluster 0: header; cluster 1: refcount table -> cluster 2; cluster 2: counts clusters 0-2.
    await file.truncate(0);
    await file.write(serializeHeader(header), 0);
    const table = new Uint8Array(clusterSize);
    new DataView(table.buffer).setBigUint64(0, BigInt(2 * clusterSize));
    await file.write(table, clusterSize);
    const block = new Uint8Array(clusterSize);
    for (let c = 0; c < 3; c++) setRefcountOne(block, c, refcountOrder);
    await file.write(block, 2 * clusterSize);
    await file.flush();

    // Growing from an empty L1 allocates it from cluster 3, as qemu-img's resize does.
    const image = await Qcow2Image.open(file, { readOnly: false });
    const l1Entries = Math.ceil(size / (clusterSize * (clusterSize / 8)));
    if (l1Entries > 0) await image.growL1(l1Entries);
    image.header.size = size;
    await image.writeHeader();
    if (options.preallocation === 'metadata' && size > 0) await image.preallocateMetadata();
    await image.flush();
    if (typeof target === 'string') await image.close();
  } catch (e) {
    if (typeof target === 'string') await file.close().catch(() => {});
    throw e;
  }
}

function setRefcountOne(block: Uint8Array, index: number, order: number): void {
  const bits = 2 ** order;
  if (bits >= 8) {
    const bytes = bits / 8;
    block[index * bytes + bytes - 1] = 1;
  } else {
    const perByte = 8 / bits;
    const at = Math.floor(index / perByte);
    block[at] = (block[at] as number) | (1 << ((index % perByte) * bits));
  }
}

async function backingVirtualSize(
  imagePath: string,
  backingFile: string,
  format: 'qcow2' | 'raw' | undefined,
): Promise<number> {
  const { openImage } = await import('../open.js');
  const path = resolve(dirname(imagePath), backingFile);
  if (format === undefined) invalid('A backing format is needed to read the backing file size');
  const backing = await openImage(path, { format, readOnly: true, backing: 'none' });
  try {
    return backing.virtualSize;
  } finally {
    await backing.close();
  }
}
