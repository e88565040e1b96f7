import type { Command } from '../cli/context.js';

/** Every strata-img command, by the name qemu-img gives it. */
export const commandNames: readonly string[] = [
  'bitmap',
  'check',
  'commit',
  'compare',
  'convert',
  'create',
  'info',
  'map',
  'measure',
  'rebase',
  'resize',
  'snapshot',
];

/** Imports one command's module on demand (startup cost stays proportional to the command). */
export async function loadCommand(name: string): Promise<Command> {
  switch (name) {
    case 'bitmap':
      return (await import('./bitmap.js')).bitmap;
    case 'check':
      return (await import('./check.js')).check;
    case 'commit':
      return (await import('./commit.js')).commit;
    case 'compare':
      return (await import('./compare.js')).compare;
    case 'convert':
      return (await import('./convert.js')).convert;
    case 'create':
      return (await import('./create.js')).create;
    case 'info':
      return (await import('./info.js')).info;
    case 'map':
      return (await import('./map.js')).map;
    case 'measure':
      return (await import('./measure.js')).measure;
    case 'rebase':
      return (await import('./rebase.js')).rebase;
    case 'resize':
      return (await import('./resize.js')).resize;
    case 'snapshot':
      return (await import('./snapshot.js')).snapshot;
    default:
      throw new Error(`no command ${name}`);
  }
}
