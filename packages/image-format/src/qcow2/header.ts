import { ImageError } from '../errors.js';
import {
  AUTOCLEAR_BITMAPS,
  COMPAT_LAZY_REFCOUNTS,
  EXT_BACKING_FORMAT,
  EXT_BITMAPS,
  EXT_CRYPTO_HEADER,
  EXT_DATA_FILE,
  EXT_END,
  EXT_FEATURE_TABLE,
  INCOMPAT_COMPRESSION,
  MAX_BACKING_FILE_NAME,
  MAX_BITMAP_DIRECTORY_BYTES,
  MAX_BITMAPS,
  MAX_CLUSTER_BITS,
  MAX_L1_BYTES,
  MAX_REFTABLE_BYTES,
  MAX_SNAPSHOTS,
  MIN_CLUSTER_BITS,
  QCOW2_MAGIC,
  V2_HEADER_LENGTH,
  V3_HEADER_LENGTH,
  V3_MIN_HEADER_LENGTH,
} from './constants.js';

/** Which feature word a feature-name table entry describes. */
export type FeatureKind = 'incompatible' | 'compatible' | 'autoclear';

/** One entry of the feature-name table extension. */
export interface FeatureName {
  kind: FeatureKind;
  bit: number;
  name: string;
}

/** A header extension this implementation does not interpret; kept verbatim on rewrite. */
export interface RawHeaderExtension {
  type: number;
  data: Uint8Array;
}

/** The bitmaps extension: where the bitmap directory lives. */
export interface BitmapsExtension {
  nbBitmaps: number;
  /** Must be zero; kept so a rewrite does not change what was read. */
  reserved: number;
  directorySize: number;
  directoryOffset: number;
  /** The extension data exactly as stored (24 bytes). */
  raw: Uint8Array;
}

/** The full-disk-encryption header pointer (only reported; encrypted images are refused). */
export interface CryptoHeaderExtension {
  offset: number;
  length: number;
}

/**
 * Everything in cluster 0 of a qcow2 image: the fixed header, the header extensions and the
 * backing file name. Feature words are bigints because all 64 bits are meaningful.
 */
export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  /** Virtual disk size in bytes. */
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  /** 0 = zlib (deflate), 1 = zstd. */
  compressionType: number;
  /** Header bytes past the fields this implementation knows, up to header_length; kept on rewrite. */
  unknownHeaderFields: Uint8Array;
  backingFile: string | null;
  backingFormat: string | null;
  dataFile: string | null;
  /** The feature-name table as read (empty when absent). Rewrites emit Strata's own table. */
  featureNames: FeatureName[];
  /** Parsed bitmaps extension; null when absent (or present but not valid because autoclear bit 0 is clear). */
  bitmaps: BitmapsExtension | null;
  cryptoHeader: CryptoHeaderExtension | null;
  /** Extensions of unknown type, in file order, kept on rewrite. */
  unknownExtensions: RawHeaderExtension[];
}

/** The feature-name table QEMU 7.2 writes, in its order. */
export const STANDARD_FEATURE_NAMES: readonly FeatureName[] = [
  { kind: 'incompatible', bit: 0, name: 'dirty bit' },
  { kind: 'incompatible', bit: 1, name: 'corrupt bit' },
  { kind: 'incompatible', bit: 2, name: 'external data file' },
  { kind: 'incompatible', bit: 3, name: 'compression type' },
  { kind: 'incompatible', bit: 4, name: 'extended L2 entries' },
  { kind: 'compatible', bit: 0, name: 'lazy refcounts' },
  { kind: 'autoclear', bit: 0, name: 'bitmaps' },
  { kind: 'autoclear', bit: 1, name: 'raw external data' },
];

const FEATURE_KIND_CODES: Record<FeatureKind, number> = { incompatible: 0, compatible: 1, autoclear: 2 };
const FEATURE_ENTRY_SIZE = 48;

function fail(reason: ConstructorParameters<typeof ImageError>[0], message: string): never {
  throw new ImageError(reason, message);
}

/** Reads a u64 that must fit a JavaScript number exactly (offsets and sizes). */
function u64(view: DataView, at: number, what: string): number {
  const value = view.getBigUint64(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail('too-large', `${what} is too large (${value})`);
  return Number(value);
}

const decoder = new TextDecoder('utf-8', { fatal: false });
const encoder = new TextEncoder();

/**
 * How many bytes of the file start must be read to parse the header: the whole of cluster 0
 * (header, extensions and backing name must all lie inside it).
 */
export function headerReadSize(clusterBits: number): number {
  return 1 << clusterBits;
}

/**
 * Reads the cluster size from the first bytes of an image, after checking magic and version,
 * so the caller knows how much to read for {@link parseHeader}.
 */
export function peekClusterBits(start: Uint8Array): number {
  if (start.length < V2_HEADER_LENGTH) fail('truncated', 'File too short for a qcow2 header');
  const view = new DataView(start.buffer, start.byteOffset, start.byteLength);
  if (view.getUint32(0) !== QCOW2_MAGIC) fail('bad-magic', 'Image is not in qcow2 format');
  const version = view.getUint32(4);
  if (version !== 2 && version !== 3) fail('unsupported-version', `Unsupported qcow2 version ${version}`);
  const clusterBits = view.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    fail('corrupt', `Unsupported cluster size: 2^${clusterBits}`);
  }
  return clusterBits;
}

/**
 * Parses cluster 0 of a qcow2 image. `cluster0` holds the first min(cluster size, file size)
 * bytes. Every length and count is checked against cluster 0 and QEMU's limits before
 * anything is allocated; checks against the file size are done by {@link checkHeaderAgainstFile}.
 */
export function parseHeader(cluster0: Uint8Array): Qcow2Header {
  const clusterBits = peekClusterBits(cluster0);
  const clusterSize = 1 << clusterBits;
  const view = new DataView(cluster0.buffer, cluster0.byteOffset, cluster0.byteLength);
  const version = view.getUint32(4) as 2 | 3;

  let incompatibleFeatures = 0n;
  let compatibleFeatures = 0n;
  let autoclearFeatures = 0n;
  let refcountOrder = 4;
  let headerLength = V2_HEADER_LENGTH;
  let compressionType = 0;
  if (version === 3) {
    if (cluster0.length < V3_MIN_HEADER_LENGTH) fail('truncated', 'File too short for a qcow2 v3 header');
    incompatibleFeatures = view.getBigUint64(72);
    compatibleFeatures = view.getBigUint64(80);
    autoclearFeatures = view.getBigUint64(88);
    refcountOrder = view.getUint32(96);
    headerLength = view.getUint32(100);
    if (headerLength < V3_MIN_HEADER_LENGTH) fail('corrupt', 'qcow2 header too short');
    if (headerLength > clusterSize) fail('too-large', 'qcow2 header exceeds cluster size');
    if (headerLength > cluster0.length) fail('truncated', 'File ends inside the qcow2 header');
    if (headerLength > V3_MIN_HEADER_LENGTH) compressionType = view.getUint8(104);
  }
  if (refcountOrder > 6) fail('corrupt', 'Reference count entry width too large; may not exceed 64 bits');

  const unknownHeaderFields =
    headerLength > V3_HEADER_LENGTH ? cluster0.slice(V3_HEADER_LENGTH, headerLength) : new Uint8Array(0);

  if (compressionType > 1) fail('unsupported-feature', `Unknown compression type ${compressionType}`);
  if (compressionType !== 0 && (incompatibleFeatures & INCOMPAT_COMPRESSION) === 0n) {
    fail('corrupt', 'Compression type is not zlib, but the compression type incompatible bit is not set');
  }
  if (compressionType === 0 && (incompatibleFeatures & INCOMPAT_COMPRESSION) !== 0n) {
    fail('corrupt', 'Compression type incompatible bit is set, but the compression type is zlib');
  }

  const backingFileOffset = u64(view, 8, 'Backing file offset');
  const backingFileSize = view.getUint32(16);
  const size = u64(view, 24, 'Image size');
  const cryptMethod = view.getUint32(32);
  const l1Size = view.getUint32(36);
  const l1TableOffset = u64(view, 40, 'L1 table offset');
  const refcountTableOffset = u64(view, 48, 'Refcount table offset');
  const refcountTableClusters = view.getUint32(56);
  const nbSnapshots = view.getUint32(60);
  const snapshotsOffset = u64(view, 64, 'Snapshot table offset');

  let backingFile: string | null = null;
  if (backingFileOffset !== 0) {
    if (backingFileSize > MAX_BACKING_FILE_NAME || backingFileOffset > clusterSize) {
      fail('too-large', 'Backing file name too long');
    }
    if (backingFileOffset + backingFileSize > clusterSize) fail('too-large', 'Backing file name too long');
    if (backingFileOffset + backingFileSize > cluster0.length)
      fail('truncated', 'File ends inside the backing file name');
    backingFile = decoder.decode(cluster0.subarray(backingFileOffset, backingFileOffset + backingFileSize));
  }

  const header: Qcow2Header = {
    version,
    backingFileOffset,
    backingFileSize,
    clusterBits,
    size,
    cryptMethod,
    l1Size,
    l1TableOffset,
    refcountTableOffset,
    refcountTableClusters,
    nbSnapshots,
    snapshotsOffset,
    incompatibleFeatures,
    compatibleFeatures,
    autoclearFeatures,
    refcountOrder,
    headerLength,
    compressionType,
    unknownHeaderFields,
    backingFile,
    backingFormat: null,
    dataFile: null,
    featureNames: [],
    bitmaps: null,
    cryptoHeader: null,
    unknownExtensions: [],
  };
  // Extensions run from header_length to the backing file name (or the end of cluster 0).
  const extEnd = backingFileOffset !== 0 ? backingFileOffset : clusterSize;
  parseExtensions(header, cluster0, extEnd);
  checkLimits(header);
  return header;
}

function parseExtensions(header: Qcow2Header, cluster0: Uint8Array, extEnd: number): void {
  const view = new DataView(cluster0.buffer, cluster0.byteOffset, cluster0.byteLength);
  let at = header.headerLength;
  for (;;) {
    if (at + 8 > extEnd) fail('corrupt', 'Header extension area is not terminated');
    if (at + 8 > cluster0.length) fail('truncated', 'File ends inside the header extensions');
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    at += 8;
    if (type === EXT_END) return;
    if (length > extEnd - at) fail('too-large', `Header extension 0x${type.toString(16)} too large`);
    if (at + length > cluster0.length) fail('truncated', 'File ends inside a header extension');
    const data = cluster0.slice(at, at + length);
    at += (length + 7) & ~7;
    switch (type) {
      case EXT_BACKING_FORMAT:
        if (length > 1023) fail('too-large', 'Backing format name too long');
        header.backingFormat = decoder.decode(data);
        break;
      case EXT_DATA_FILE:
        header.dataFile = decoder.decode(data);
        break;
      case EXT_FEATURE_TABLE:
        header.featureNames = parseFeatureTable(data);
        break;
      case EXT_CRYPTO_HEADER: {
        if (length !== 16) fail('corrupt', 'Invalid encryption header extension length');
        const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
        header.cryptoHeader = {
          offset: u64(v, 0, 'Encryption header offset'),
          length: u64(v, 8, 'Encryption header length'),
        };
        break;
      }
      case EXT_BITMAPS:
        // Without autoclear bit 0 the extension is stale (written by a tool that did not know
        // bitmaps); QEMU ignores it and drops it on the next rewrite.
        if ((header.autoclearFeatures & AUTOCLEAR_BITMAPS) !== 0n)
          header.bitmaps = parseBitmapsExtension(data);
        break;
      default:
        header.unknownExtensions.push({ type, data });
    }
    if (at > extEnd) fail('corrupt', 'Header extension padding runs past the extension area');
  }
}

function parseFeatureTable(data: Uint8Array): FeatureName[] {
  const names: FeatureName[] = [];
  const kinds: FeatureKind[] = ['incompatible', 'compatible', 'autoclear'];
  for (let at = 0; at + FEATURE_ENTRY_SIZE <= data.length; at += FEATURE_ENTRY_SIZE) {
    const kind = kinds[data[at] as number];
    if (kind === undefined) continue;
    const raw = data.subarray(at + 2, at + FEATURE_ENTRY_SIZE);
    const nul = raw.indexOf(0);
    names.push({
      kind,
      bit: data[at + 1] as number,
      name: decoder.decode(nul < 0 ? raw : raw.subarray(0, nul)),
    });
  }
  return names;
}

/** Parses and validates the 24-byte bitmaps extension. */
export function parseBitmapsExtension(data: Uint8Array): BitmapsExtension {
  if (data.length !== 24) fail('corrupt', 'bitmaps_ext: Invalid extension length');
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const ext: BitmapsExtension = {
    nbBitmaps: v.getUint32(0),
    reserved: v.getUint32(4),
    directorySize: u64(v, 8, 'Bitmap directory size'),
    directoryOffset: u64(v, 16, 'Bitmap directory offset'),
    raw: Uint8Array.from(data),
  };
  if (ext.reserved !== 0) fail('corrupt', 'bitmaps_ext: Reserved field is not zero');
  if (ext.nbBitmaps > MAX_BITMAPS) fail('too-large', 'bitmaps_ext: Image has too many bitmaps');
  if (ext.nbBitmaps === 0) fail('corrupt', 'bitmaps_ext: Found bitmaps extension with zero bitmaps');
  if (ext.directorySize > MAX_BITMAP_DIRECTORY_BYTES)
    fail('too-large', 'bitmaps_ext: Bitmap directory is too large');
  return ext;
}

/** Serialises a bitmaps extension into its 24 on-disk bytes. */
export function serializeBitmapsExtension(ext: Omit<BitmapsExtension, 'raw'>): Uint8Array {
  const data = new Uint8Array(24);
  const v = new DataView(data.buffer);
  v.setUint32(0, ext.nbBitmaps);
  v.setUint32(4, ext.reserved);
  v.setBigUint64(8, BigInt(ext.directorySize));
  v.setBigUint64(16, BigInt(ext.directoryOffset));
  return data;
}

function checkLimits(h: Qcow2Header): void {
  const clusterSize = 1 << h.clusterBits;
  if (h.version === 2 && h.refcountOrder !== 4) fail('corrupt', 'qcow2 v2 images use 16-bit refcounts');
  if (h.cryptMethod !== 0) fail('encrypted', 'Encrypted qcow2 images are not supported');
  if (h.l1Size * 8 > MAX_L1_BYTES) fail('too-large', 'Active L1 table too large');
  const l2Entries = clusterSize / 8;
  const neededL1 = Math.ceil(h.size / (clusterSize * l2Entries));
  if (neededL1 * 8 > MAX_L1_BYTES) fail('too-large', 'Image is too big');
  if (h.l1Size < neededL1) fail('corrupt', 'L1 table is too small');
  if (h.l1Size > 0 && (h.l1TableOffset === 0 || h.l1TableOffset % clusterSize !== 0)) {
    fail('corrupt', 'Invalid L1 table offset');
  }
  if (h.refcountTableClusters * clusterSize > MAX_REFTABLE_BYTES)
    fail('too-large', 'Reference count table too large');
  if (h.refcountTableClusters === 0) fail('corrupt', 'Image has no refcount table');
  if (h.refcountTableOffset === 0 || h.refcountTableOffset % clusterSize !== 0) {
    fail('corrupt', 'Invalid reference count table offset');
  }
  if (h.nbSnapshots > MAX_SNAPSHOTS) fail('too-large', 'Too many snapshots');
  if (h.nbSnapshots > 0 && (h.snapshotsOffset === 0 || h.snapshotsOffset % clusterSize !== 0)) {
    fail('corrupt', 'Invalid snapshot table offset');
  }
  if (h.bitmaps && h.bitmaps.directoryOffset % clusterSize !== 0) {
    fail('corrupt', 'bitmaps_ext: Invalid bitmap directory offset');
  }
}

/**
 * Checks that every table the header points at lies inside a file of `fileSize` bytes,
 * so later reads cannot run past the end or allocate on a lying size.
 */
export function checkHeaderAgainstFile(h: Qcow2Header, fileSize: number): void {
  const clusterSize = 1 << h.clusterBits;
  const within = (offset: number, length: number, what: string) => {
    if (offset + length > fileSize) fail('corrupt', `${what} lies past the end of the file`);
  };
  within(h.l1TableOffset, h.l1Size * 8, 'Active L1 table');
  within(h.refcountTableOffset, h.refcountTableClusters * clusterSize, 'Reference count table');
  if (h.nbSnapshots > 0) within(h.snapshotsOffset, Math.min(h.nbSnapshots, 1) * 40, 'Snapshot table');
  if (h.bitmaps) within(h.bitmaps.directoryOffset, h.bitmaps.directorySize, 'Bitmap directory');
}

/** Whether lazy refcounts are on (compatible bit 0). */
export function hasLazyRefcounts(h: Qcow2Header): boolean {
  return (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n;
}

/** Names of the set bits of `bits`, from the image's own feature table, as QEMU reports them. */
export function describeFeatures(h: Qcow2Header, kind: FeatureKind, bits: bigint): string {
  const parts: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((bits & (1n << BigInt(bit))) === 0n) continue;
    const named = h.featureNames.find((f) => f.kind === kind && f.bit === bit);
    parts.push(named ? named.name : `Unknown ${kind} feature: ${(1n << BigInt(bit)).toString(16)}`);
  }
  return parts.join(', ');
}

function extension(type: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + ((data.length + 7) & ~7));
  const v = new DataView(out.buffer);
  v.setUint32(0, type);
  v.setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

function featureTable(): Uint8Array {
  const data = new Uint8Array(STANDARD_FEATURE_NAMES.length * FEATURE_ENTRY_SIZE);
  STANDARD_FEATURE_NAMES.forEach((f, i) => {
    data[i * FEATURE_ENTRY_SIZE] = FEATURE_KIND_CODES[f.kind];
    data[i * FEATURE_ENTRY_SIZE + 1] = f.bit;
    data.set(encoder.encode(f.name), i * FEATURE_ENTRY_SIZE + 2);
  });
  return data;
}

/**
 * Serialises the header, its extensions (QEMU's order: backing format, data file, crypto
 * header, feature table, bitmaps, unknown ones as read, end marker) and the backing file
 * name into the bytes of cluster 0 (zero-padded to the cluster size). Updates
 * `backingFileOffset`/`backingFileSize`/`headerLength` in `h` to what was written.
 */
export function serializeHeader(h: Qcow2Header): Uint8Array {
  const clusterSize = 1 << h.clusterBits;
  const out = new Uint8Array(clusterSize);
  const v = new DataView(out.buffer);
  const headerLength = h.version === 2 ? V2_HEADER_LENGTH : V3_HEADER_LENGTH + h.unknownHeaderFields.length;
  if (headerLength > clusterSize) fail('too-large', 'qcow2 header exceeds cluster size');

  const parts: Uint8Array[] = [];
  if (h.backingFormat !== null && h.backingFile !== null)
    parts.push(extension(EXT_BACKING_FORMAT, encoder.encode(h.backingFormat)));
  if (h.dataFile !== null) parts.push(extension(EXT_DATA_FILE, encoder.encode(h.dataFile)));
  if (h.cryptoHeader) {
    const d = new Uint8Array(16);
    const dv = new DataView(d.buffer);
    dv.setBigUint64(0, BigInt(h.cryptoHeader.offset));
    dv.setBigUint64(8, BigInt(h.cryptoHeader.length));
    parts.push(extension(EXT_CRYPTO_HEADER, d));
  }
  // QEMU emits its feature table for v3 images with clusters above 4 KiB only.
  if (h.version === 3 && clusterSize > 4096) parts.push(extension(EXT_FEATURE_TABLE, featureTable()));
  if (h.bitmaps) parts.push(extension(EXT_BITMAPS, serializeBitmapsExtension(h.bitmaps)));
  for (const ext of h.unknownExtensions) parts.push(extension(ext.type, ext.data));
  parts.push(new Uint8Array(8));

  let at = headerLength;
  for (const part of parts) {
    if (at + part.length > clusterSize) fail('too-large', 'Header extensions do not fit in cluster 0');
    out.set(part, at);
    at += part.length;
  }
  let backingFileOffset = 0;
  let backingFileSize = 0;
  if (h.backingFile !== null) {
    const name = encoder.encode(h.backingFile);
    if (name.length > MAX_BACKING_FILE_NAME) fail('too-large', 'Backing file name too long');
    if (at + name.length > clusterSize) fail('too-large', 'Backing file name does not fit in cluster 0');
    backingFileOffset = at;
    backingFileSize = name.length;
    out.set(name, at);
  }

  v.setUint32(0, QCOW2_MAGIC);
  v.setUint32(4, h.version);
  v.setBigUint64(8, BigInt(backingFileOffset));
  v.setUint32(16, backingFileSize);
  v.setUint32(20, h.clusterBits);
  v.setBigUint64(24, BigInt(h.size));
  v.setUint32(32, h.cryptMethod);
  v.setUint32(36, h.l1Size);
  v.setBigUint64(40, BigInt(h.l1TableOffset));
  v.setBigUint64(48, BigInt(h.refcountTableOffset));
  v.setUint32(56, h.refcountTableClusters);
  v.setUint32(60, h.nbSnapshots);
  v.setBigUint64(64, BigInt(h.snapshotsOffset));
  if (h.version === 3) {
    v.setBigUint64(72, h.incompatibleFeatures);
    v.setBigUint64(80, h.compatibleFeatures);
    v.setBigUint64(88, h.autoclearFeatures);
    v.setUint32(96, h.refcountOrder);
    v.setUint32(100, headerLength);
    v.setUint8(104, h.compressionType);
    out.set(h.unknownHeaderFields, V3_HEADER_LENGTH);
  }
  h.backingFileOffset = backingFileOffset;
  h.backingFileSize = backingFileSize;
  h.headerLength = headerLength;
  return out;
}
