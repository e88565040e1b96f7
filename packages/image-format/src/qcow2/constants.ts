/** Numbers fixed by the qcow2 specification and by the limits QEMU enforces. */

export const QCOW2_MAGIC = 0x514649fb;

/** Header extension types. */
export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO_HEADER = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

/** Incompatible feature bits. */
export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;
/** Every incompatible bit this implementation understands (extended L2 and zstd are refused separately). */
export const INCOMPAT_KNOWN =
  INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

/** Compatible feature bits. */
export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;

/** Autoclear feature bits. */
export const AUTOCLEAR_BITMAPS = 1n << 0n;
export const AUTOCLEAR_DATA_FILE_RAW = 1n << 1n;
export const AUTOCLEAR_KNOWN = AUTOCLEAR_BITMAPS | AUTOCLEAR_DATA_FILE_RAW;

/** Header sizes: the v2 fields, the v3 fields, and what QEMU writes for v3 (with the compression byte and padding). */
export const V2_HEADER_LENGTH = 72;
export const V3_MIN_HEADER_LENGTH = 104;
export const V3_HEADER_LENGTH = 112;

export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;

/** QEMU's limits (qcow2.h). */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;
export const MAX_SNAPSHOT_TABLE_BYTES = 64 * 1024 * 1024;
export const MAX_SNAPSHOTS = 65536;
export const MAX_BACKING_FILE_NAME = 1023;
export const MAX_SNAPSHOT_EXTRA_DATA = 1024;
export const MAX_BITMAPS = 65535;
export const MAX_BITMAP_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** QEMU refuses virtual sizes above 32 MiB * 2^(cluster_bits*2-3)… we use its simpler absolute cap. */
export const MAX_VIRTUAL_SIZE = 2 ** 53 - 2 ** 21;

/** Masks for table entries (bits 9..55 hold a cluster offset). */
export const L1E_OFFSET_MASK = 0x00fffffffffffe00n;
export const L2E_OFFSET_MASK = 0x00fffffffffffe00n;
export const REFT_OFFSET_MASK = 0xfffffffffffffe00n;
export const OFLAG_COPIED = 1n << 63n;
export const OFLAG_COMPRESSED = 1n << 62n;
export const OFLAG_ZERO = 1n;

/** Raw DEFLATE window used for compressed clusters. */
export const COMPRESSION_WINDOW_BITS = 12;
