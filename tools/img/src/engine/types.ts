import type { ImageDriver, ImageFormatName } from '@strata/image-format';

/**
 * What the commands need from the image library, in one place. Commands are functions over
 * this port; `engine/index.ts` binds it to @strata/image-format. Keeping the port narrow lets
 * the command-line behaviour (parsing, output, exit codes) be tested on its own.
 */
export interface Engine {
  /** Guesses a format from the file's contents (only ever for images opened read-only). */
  probeFormat(path: string): Promise<ImageFormatName>;
  /** Opens an image and, unless `noBacking`, its backing chain (backing files read-only). */
  open(path: string, options: EngineOpenOptions): Promise<EngineImage>;
  /** Creates an image file; returns the option summary qemu-img prints after "Formatting". */
  create(path: string, spec: CreateSpec): Promise<void>;
  /**
   * Checks a qcow2 image file (and with `repair`, repairs it and checks it again). Works on the
   * file rather than an open image because a damaged image may refuse to open.
   */
  check(path: string, repair: 'leaks' | 'all' | null): Promise<CheckReport>;
}

/** How to open an image. */
export interface EngineOpenOptions {
  format: ImageFormatName;
  readOnly: boolean;
  /** Do not open the backing chain (qemu's BDRV_O_NO_BACKING). */
  noBacking?: boolean;
  /** Override where the backing chain starts (used by compare -F and rebase). */
  backingFormat?: ImageFormatName;
}

/** What `create` is asked to make. */
export interface CreateSpec {
  format: ImageFormatName;
  size: number;
  backingFile?: string;
  backingFormat?: ImageFormatName;
  clusterSize?: number;
  compat?: '0.10' | '1.1';
  lazyRefcounts?: boolean;
  refcountBits?: number;
  preallocation?: 'off' | 'metadata' | 'falloc' | 'full';
}

/** An open image with the optional capabilities qcow2 adds to the common driver shape. */
export interface EngineImage extends ImageDriver {
  /** Cluster size for qcow2; undefined for raw. */
  readonly clusterSize: number | undefined;
  /** Format-specific facts for `info` (qcow2 only). */
  formatSpecific(): Qcow2Specific | undefined;
  /** Whether the image was marked dirty (qcow2 lazy refcounts) when opened. */
  readonly dirty: boolean;
  readonly snapshots: SnapshotStore | undefined;
  readonly bitmaps: BitmapStore | undefined;
  /** Writes one whole cluster compressed (qcow2). */
  writeCompressed?(buf: Uint8Array, offset: number): Promise<void>;
  /** Rewrites the backing file name and format in the header (rebase -u, commit -b). */
  setBacking?(name: string | null, format: ImageFormatName | null): Promise<void>;
  /** Drops every cluster so the image reads its backing again (what `commit` leaves behind). */
  makeEmpty?(): Promise<void>;
}

/** qcow2's format-specific information, as `info` shows it. */
export interface Qcow2Specific {
  compat: '0.10' | '1.1';
  compressionType: 'zlib' | 'zstd';
  lazyRefcounts?: boolean;
  refcountBits: number;
  corrupt?: boolean;
  extendedL2?: boolean;
  bitmaps?: BitmapInfo[];
  dataFile?: string;
}

/** One persistent bitmap as `info` shows it. */
export interface BitmapInfo {
  name: string;
  granularity: number;
  /** `in-use`, `auto` (enabled), and so on, as QEMU names them. */
  flags: string[];
  /** Stored in the image (only persistent bitmaps are shown by `info`). */
  persistent?: boolean;
}

/** One internal snapshot. */
export interface SnapshotInfo {
  id: string;
  name: string;
  vmStateSize: number;
  dateSec: number;
  dateNsec: number;
  vmClockNsec: number;
  icount?: number;
}

/** Internal snapshots of a qcow2 image. */
export interface SnapshotStore {
  list(): SnapshotInfo[];
  create(name: string): Promise<void>;
  apply(nameOrId: string): Promise<void>;
  delete(nameOrId: string): Promise<void>;
}

/** Persistent dirty bitmaps of a qcow2 image. */
export interface BitmapStore {
  list(): BitmapInfo[];
  add(name: string, options: { granularity?: number; disabled?: boolean }): Promise<void>;
  remove(name: string): Promise<void>;
  clear(name: string): Promise<void>;
  enable(name: string): Promise<void>;
  disable(name: string): Promise<void>;
  /** Merges bitmap `source` of image `from` (this image when omitted) into `target`. */
  merge(target: string, source: string, from?: EngineImage): Promise<void>;
}

/**
 * The result of a consistency check, in qemu-img check's categories. After a repair the
 * counters describe the repaired image and the `...Fixed` counters what was repaired.
 */
export interface CheckReport {
  corruptions: number;
  leaks: number;
  checkErrors: number;
  corruptionsFixed: number;
  leaksFixed: number;
  imageEndOffset?: number;
  totalClusters?: number;
  allocatedClusters?: number;
  fragmentedClusters?: number;
  compressedClusters?: number;
  /** One line per problem found, in the order qemu-img prints them (to stderr). */
  messages: string[];
}
