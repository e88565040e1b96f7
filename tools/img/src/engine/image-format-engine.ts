import { checkImage, HostFile, ImageError, type ImageFormatName } from '@strata/image-format';
import type { CheckReport, Engine } from './types.js';

function missing(): never {
  throw new ImageError('invalid-argument', 'This operation is not available in this build of the image library');
}

const QCOW2_MAGIC = [0x51, 0x46, 0x49, 0xfb];

/** Guesses qcow2 by its magic, raw otherwise (read-only callers only). */
async function probeFormat(path: string): Promise<ImageFormatName> {
  const file = await HostFile.open(path, { readOnly: true });
  try {
    const head = new Uint8Array(4);
    const n = await file.read(head, 0);
    return n === 4 && QCOW2_MAGIC.every((b, i) => head[i] === b) ? 'qcow2' : 'raw';
  } finally {
    await file.close();
  }
}

async function check(path: string, repair: 'leaks' | 'all' | null): Promise<CheckReport> {
  const result = await checkImage(path, repair === null ? {} : { repair });
  return { ...result };
}

/** The command port bound to @strata/image-format. */
export const imageFormatEngine: Engine = {
  probeFormat,
  open: async () => missing(),
  create: async () => missing(),
  check,
};
