import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ImageDriver, ImageFormatName } from './driver.js';
import { ImageError } from './errors.js';
import { HostFile, type ImageFile } from './image-file.js';
import { QCOW2_MAGIC } from './qcow2/constants.js';
import { describeFeatures, parseHeader, peekClusterBits } from './qcow2/header.js';
import { Qcow2Image, type Qcow2OpenOptions } from './qcow2/image.js';
import { RawImage } from './raw/raw-image.js';

/** Default bound on backing chain length (links followed below the opened image). */
export const DEFAULT_MAX_CHAIN_DEPTH = 64;

/** Options for {@link openImage}. */
export interface OpenImageOptions {
  /** The image's format. Always explicit: contents are never trusted to say what a file is. */
  format: ImageFormatName;
  readOnly?: boolean;
  /** 'follow' (default) opens the backing chain read-only; 'none' leaves `backing` null. */
  backing?: 'follow' | 'none';
  /** Maximum number of backing links followed (default {@link DEFAULT_MAX_CHAIN_DEPTH}). */
  maxChainDepth?: number;
  /** Format of the image's direct backing file when the image records none. */
  backingFormat?: ImageFormatName;
  /**
   * Allow guessing the format of backing files that record none. Only honoured for
   * read-only opens: a guest can write any header into a raw disk.
   */
  allowProbing?: boolean;
  /** Passed to {@link Qcow2Image.open} for images left dirty by a lazy-refcounts writer. */
  repairDirty?: (file: ImageFile) => Promise<void>;
}

/**
 * Opens an image of an explicitly named format and, unless told not to, its backing chain.
 * Backing files open read-only with the format recorded in their overlay; a backing file
 * without a recorded format fails with `backing-format-missing` unless the caller names it
 * (`backingFormat`) or opens read-only with `allowProbing`. Chains are bounded and loops are
 * detected; relative backing names are resolved against the overlay's directory.
 */
export async function openImage(path: string, options: OpenImageOptions): Promise<ImageDriver> {
  const format: unknown = options.format;
  if (format !== 'qcow2' && format !== 'raw') {
    throw new ImageError('invalid-argument', `Unknown image format '${String(format)}'`, { path });
  }
  return openLayer(path, format, options, 0, new Set());
}

async function openLayer(
  path: string,
  format: ImageFormatName,
  options: OpenImageOptions,
  depth: number,
  seen: Set<string>,
): Promise<ImageDriver> {
  const maxDepth = options.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH;
  if (depth > maxDepth) {
    throw new ImageError('backing-too-deep', `Backing chain is deeper than ${maxDepth} images`, { path });
  }
  let canonical: string;
  try {
    canonical = await realpath(path);
  } catch (cause) {
    throw new ImageError('io', `Could not open '${path}': No such file or directory`, { path, cause });
  }
  if (seen.has(canonical))
    throw new ImageError('backing-loop', `Backing chain loops back to '${path}'`, { path });
  seen.add(canonical);
  const readOnly = depth > 0 || (options.readOnly ?? false);
  const file = await HostFile.open(path, { readOnly });
  try {
    if (format === 'raw') return await RawImage.open(file, { readOnly });
    const repair = options.repairDirty;
    // Backing images are read-only and never rewritten: their bitmaps are not loaded.
    const qcow2Options: Qcow2OpenOptions = { readOnly, bitmaps: depth === 0 };
    if (repair) qcow2Options.repairDirty = repair;
    const image = await Qcow2Image.open(file, qcow2Options);
    const name = image.backingFileName;
    if (name !== null && (options.backing ?? 'follow') === 'follow') {
      try {
        image.backing = await openBacking(image, path, name, options, depth, seen);
      } catch (e) {
        await file.close();
        throw e;
      }
    }
    return image;
  } catch (e) {
    await file.close().catch(() => {});
    throw e;
  }
}

async function openBacking(
  image: Qcow2Image,
  overlayPath: string,
  name: string,
  options: OpenImageOptions,
  depth: number,
  seen: Set<string>,
): Promise<ImageDriver> {
  if (name.length === 0 || /^[a-z][a-z0-9+.-]*:/i.test(name) || name.includes('\0')) {
    throw new ImageError('invalid-argument', `Backing file name '${name}' is not a plain file name`, {
      path: overlayPath,
    });
  }
  const backingPath = isAbsolute(name) ? name : resolve(dirname(overlayPath), name);
  let format: string | null = image.header.backingFormat;
  if (format === null && depth === 0 && options.backingFormat) format = options.backingFormat;
  if (format === null) {
    if (options.readOnly && options.allowProbing) {
      format = await probeFormat(backingPath);
    } else {
      throw new ImageError(
        'backing-format-missing',
        `Backing file '${name}' of '${overlayPath}' has no recorded format; name it explicitly (probing is refused)`,
        { path: overlayPath },
      );
    }
  }
  if (format !== 'qcow2' && format !== 'raw') {
    throw new ImageError('unsupported-feature', `Unsupported backing file format '${format}'`, {
      path: overlayPath,
    });
  }
  return openLayer(backingPath, format, options, depth + 1, seen);
}

/**
 * Guesses a file's format from its first bytes ('qcow2' when it has the qcow2 magic, else
 * 'raw'). For read-only use only: never open an image writable on a guessed format.
 */
export async function probeFormat(path: string): Promise<ImageFormatName> {
  const file = await HostFile.open(path, { readOnly: true });
  try {
    const start = new Uint8Array(4);
    const n = await file.read(start, 0);
    return n === 4 && new DataView(start.buffer).getUint32(0) === QCOW2_MAGIC ? 'qcow2' : 'raw';
  } finally {
    await file.close();
  }
}

/** What {@link inspectImage} reports about an untrusted file. */
export interface ImageInspection {
  format: ImageFormatName;
  /** Size of the host file. */
  fileSize: number;
  virtualSize: number;
  /** qcow2 header facts (absent for raw). */
  qcow2?: {
    version: 2 | 3;
    clusterSize: number;
    refcountBits: number;
    backingFile: string | null;
    backingFormat: string | null;
    dataFile: string | null;
    encrypted: boolean;
    incompatibleFeatures: string[];
    compatibleFeatures: string[];
    autoclearFeatures: string[];
    snapshotCount: number;
    hasBitmaps: boolean;
    unknownExtensions: number[];
  };
}

/**
 * Inspects an untrusted file (an upload) without following backing or data files and without
 * writing: reports its header facts. A file with the qcow2 magic is parsed and validated as
 * qcow2 (errors are typed); anything else is raw. Use the answer to decide how to open it.
 */
export async function inspectImage(path: string): Promise<ImageInspection> {
  const file = await HostFile.open(path, { readOnly: true });
  try {
    const fileSize = await file.size();
    const start = new Uint8Array(Math.min(fileSize, 104));
    await file.read(start, 0);
    if (start.length < 4 || new DataView(start.buffer).getUint32(0) !== QCOW2_MAGIC) {
      return { format: 'raw', fileSize, virtualSize: fileSize };
    }
    const cluster0 = new Uint8Array(Math.min(fileSize, 2 ** peekClusterBits(start)));
    await file.read(cluster0, 0);
    const h = parseHeader(cluster0);
    const names = (kind: 'incompatible' | 'compatible' | 'autoclear', bits: bigint) =>
      bits === 0n ? [] : describeFeatures(h, kind, bits).split(', ');
    const facts: ImageInspection = {
      format: 'qcow2',
      fileSize,
      virtualSize: h.size,
      qcow2: {
        version: h.version,
        clusterSize: 2 ** h.clusterBits,
        refcountBits: 2 ** h.refcountOrder,
        backingFile: h.backingFile,
        backingFormat: h.backingFormat,
        dataFile: h.dataFile,
        encrypted: h.cryptMethod !== 0 || h.cryptoHeader !== null,
        incompatibleFeatures: names('incompatible', h.incompatibleFeatures),
        compatibleFeatures: names('compatible', h.compatibleFeatures),
        autoclearFeatures: names('autoclear', h.autoclearFeatures),
        snapshotCount: h.nbSnapshots,
        hasBitmaps: h.bitmaps !== null,
        unknownExtensions: h.unknownExtensions.map((e) => e.type),
      },
    };
    // Validate the tables too (read-only, no backing): a hostile file fails here, typed.
    await Qcow2Image.open(file, { readOnly: true, bitmaps: false });
    return facts;
  } catch (e) {
    if (e instanceof ImageError && e.path === undefined)
      throw new ImageError(e.reason, e.message, { path, cause: e.cause });
    throw e;
  } finally {
    await file.close();
  }
}
