import { ImageError } from '@strata/image-format';
import type { Engine } from './types.js';

function missing(): never {
  throw new ImageError(
    'invalid-argument',
    'This operation is not available in this build of the image library',
  );
}

/** The command port bound to @strata/image-format. */
export const imageFormatEngine: Engine = {
  probeFormat: async () => missing(),
  open: async () => missing(),
  create: async () => missing(),
  check: async () => missing(),
};
