import {
  checkImage,
  createQcow2,
  createRaw,
  ImageError,
  type ImageFormatName,
  openImage,
  probeFormat,
} from '@strata/image-format';
import type { CheckReport, CreateSpec, Engine, EngineImage, EngineOpenOptions } from './types.js';
import { DriverImage } from './driver-image.js';

async function open(path: string, options: EngineOpenOptions): Promise<EngineImage> {
  const driver = await openImage(path, {
    format: options.format,
    readOnly: options.readOnly,
    backing: options.noBacking ? 'none' : 'follow',
    // Backing files without a recorded format may be guessed only when nothing is written.
    allowProbing: options.readOnly,
    ...(options.backingFormat ? { backingFormat: options.backingFormat } : {}),
  });
  return DriverImage.wrap(driver);
}

async function create(path: string, spec: CreateSpec): Promise<void> {
  if (spec.format === 'raw') {
    await createRaw(path, { size: spec.size });
    if (spec.preallocation === 'full' || spec.preallocation === 'falloc') await preallocateRaw(path);
    return;
  }
  if (spec.preallocation === 'full' || spec.preallocation === 'falloc') {
    throw new ImageError(
      'invalid-argument',
      `Preallocation mode '${spec.preallocation}' is not supported for qcow2`,
    );
  }
  await createQcow2(path, {
    size: spec.size,
    ...(spec.compat ? { compat: spec.compat } : {}),
    ...(spec.clusterSize ? { clusterSize: spec.clusterSize } : {}),
    ...(spec.refcountBits ? { refcountBits: spec.refcountBits } : {}),
    ...(spec.lazyRefcounts !== undefined ? { lazyRefcounts: spec.lazyRefcounts } : {}),
    ...(spec.backingFile !== undefined ? { backingFile: spec.backingFile } : {}),
    ...(spec.backingFormat ? { backingFormat: spec.backingFormat } : {}),
    ...(spec.preallocation === 'metadata' || spec.preallocation === 'off'
      ? { preallocation: spec.preallocation }
      : {}),
  });
}

/** Writes zeroes over a new raw image so its blocks are allocated (preallocation=full). */
async function preallocateRaw(path: string): Promise<void> {
  const image = await openImage(path, { format: 'raw', readOnly: false });
  try {
    await image.writeZeroes(0, image.virtualSize);
    await image.flush();
  } finally {
    await image.close();
  }
}

async function check(path: string, repair: 'leaks' | 'all' | null): Promise<CheckReport> {
  const result = await checkImage(path, repair === null ? {} : { repair });
  return { ...result };
}

/** The command port bound to @strata/image-format. */
export const imageFormatEngine: Engine = {
  probeFormat: (path: string): Promise<ImageFormatName> => probeFormat(path),
  open,
  create,
  check,
};
