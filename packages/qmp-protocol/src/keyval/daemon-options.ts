import type { JsonObject } from '../json/json-value.js';
import { type OptionArgumentOptions, parseOptionArgument } from './option-argument.js';

/** Command-line options of qemu-storage-daemon that take a QAPI object, and how they parse. */
export const STORAGE_DAEMON_OPTIONS = {
  '--blockdev': { type: 'BlockdevOptions', impliedKey: 'driver' },
  '--export': { type: 'BlockExportOptions', impliedKey: 'type' },
  '--nbd-server': { type: 'NbdServerOptions' },
  '--object': { type: 'ObjectOptions', impliedKey: 'qom-type' },
  '--monitor': { type: 'MonitorOptions', impliedKey: 'chardev' },
} as const satisfies Record<string, { readonly type: string; readonly impliedKey?: string }>;

/** An option of {@link STORAGE_DAEMON_OPTIONS}. */
export type StorageDaemonOption = keyof typeof STORAGE_DAEMON_OPTIONS;

/**
 * Parses the value of a qemu-storage-daemon option (`--blockdev`, `--export`, `--nbd-server`,
 * `--object`, `--monitor`) exactly as the daemon does: JSON when it starts with `{`, otherwise
 * key=value with the option's implied key, then checked and converted with the schema.
 */
export function parseDaemonOption(
  option: StorageDaemonOption,
  value: string,
  options: Pick<OptionArgumentOptions, 'schema'> = {},
): JsonObject {
  const spec: { readonly type: string; readonly impliedKey?: string } = STORAGE_DAEMON_OPTIONS[option];
  return parseOptionArgument(
    value,
    spec.type,
    spec.impliedKey === undefined ? options : { ...options, impliedKey: spec.impliedKey },
  );
}
