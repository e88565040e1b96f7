import type { XmlMode } from '@strata/xml-model';
import { UsageError } from './io.js';

/** The flags naming libvirt's three XML forms. */
export const MODE_FLAGS = ['inactive', 'live', 'status'] as const;

/** The form chosen by the flags (default inactive); more than one is a usage error. */
export function modeFrom(flags: ReadonlySet<string>): XmlMode {
  const chosen = MODE_FLAGS.filter((f) => flags.has(f));
  if (chosen.length > 1)
    throw new UsageError(
      `choose one of --inactive, --live, --status (got ${chosen.map((c) => `--${c}`).join(' ')})`,
    );
  return chosen[0] ?? 'inactive';
}
