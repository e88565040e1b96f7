import { MemoryFile } from '../../image-file.js';
import { type Qcow2Header, serializeHeader } from '../header.js';

/**
 * The bytes of an empty qcow2 v3 image laid out as `qemu-img create` does (header,
 * refcount table, one refcount block, L1 table), for unit tests that must not depend on
 * the full writer or on qemu-img.
 */
export function freshImage(size: number, clusterBits = 16, refcountOrder = 4): MemoryFile {
  const cs = 2 ** clusterBits;
  const l1Size = Math.ceil(size / (cs * (cs / 8)));
  const header: Qcow2Header = {
    version: 3,
    backingFileOffset: 0,
    backingFileSize: 0,
    clusterBits,
    size,
    cryptMethod: 0,
    l1Size,
    l1TableOffset: 3 * cs,
    refcountTableOffset: cs,
    refcountTableClusters: 1,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder,
    headerLength: 112,
    compressionType: 0,
    unknownHeaderFields: new Uint8Array(0),
    backingFile: null,
    backingFormat: null,
    dataFile: null,
    featureNames: [],
    bitmaps: null,
    cryptoHeader: null,
    unknownExtensions: [],
  };
  const bytes = new Uint8Array(3 * cs + Math.max(8, l1Size * 8));
  bytes.set(serializeHeader(header), 0);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(cs, BigInt(2 * cs));
  // Clusters 0..3 have refcount 1 (entries are refcount_bits wide, packed LSB-first below 8 bits).
  const bits = 2 ** refcountOrder;
  for (let c = 0; c < 4; c++) {
    const bitOffset = c * bits;
    if (bits >= 8) bytes[2 * cs + (bitOffset + bits) / 8 - 1] = 1;
    else bytes[2 * cs + Math.floor(bitOffset / 8)]! |= 1 << (bitOffset % 8);
  }
  return new MemoryFile('fresh.qcow2', bytes);
}
