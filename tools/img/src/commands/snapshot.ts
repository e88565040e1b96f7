import { ImageError } from '@strata/image-format';
import type { CommandContext } from '../cli/context.js';
import { CliError, UsageError } from '../cli/errors.js';
import { getopt } from '../cli/getopt.js';
import { loadEngine } from '../engine/index.js';
import { formatSnapshotTable } from '../format/snapshot-table.js';
import { closeAll, formatName, oneFilename, openReadOnly, openWritable } from './common.js';
import { snapshotToJson } from './image-info.js';

type Action = { kind: 'list' } | { kind: 'apply' | 'create' | 'delete'; name: string };

/**
 * `snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] [-f fmt] filename`.
 * `-f` is an addition to qemu-img's syntax: it is required for -a, -c and -d, which write.
 */
export async function snapshot(argv: string[], ctx: CommandContext): Promise<number> {
  const { options, positionals } = getopt(argv, [
    { short: 'h', long: 'help', value: false },
    { short: 'l', value: false, key: 'list' },
    { short: 'a', value: true, key: 'apply' },
    { short: 'c', value: true, key: 'create' },
    { short: 'd', value: true, key: 'delete' },
    { short: 'f', value: true, key: 'format' },
    { short: 'q', value: false, key: 'quiet' },
    { short: 'U', long: 'force-share', value: false },
  ]);
  let action: Action | undefined;
  let format: string | undefined;
  for (const o of options) {
    if (o.key === 'format') format = o.value;
    if (o.key !== 'list' && o.key !== 'apply' && o.key !== 'create' && o.key !== 'delete') continue;
    if (action) throw new UsageError("Cannot mix '-l', '-a', '-c', '-d'");
    action = o.key === 'list' ? { kind: 'list' } : { kind: o.key, name: o.value ?? '' };
  }
  action ??= { kind: 'list' };
  const filename = oneFilename(positionals);
  const engine = await loadEngine();
  const fmt = formatName(format, filename);
  if (action.kind === 'list') {
    const image = await openReadOnly(engine, filename, fmt, { noBacking: true });
    try {
      const list = image.snapshots?.list() ?? [];
      if (list.length > 0) ctx.out(`Snapshot list:\n${formatSnapshotTable(list.map(snapshotToJson))}`);
    } finally {
      await closeAll(image);
    }
    return 0;
  }
  const image = await openWritable(engine, filename, fmt, { noBacking: true });
  try {
    const store = image.snapshots;
    const verb = { apply: 'apply', create: 'create', delete: 'delete' }[action.kind];
    const failure = (error: unknown) => {
      // qemu-img's wording for a missing snapshot, which scripts match on.
      const text =
        error instanceof ImageError && error.reason === 'not-found'
          ? 'snapshot not found'
          : error instanceof Error
            ? error.message
            : String(error);
      return new CliError(`Could not ${verb} snapshot '${action.name}': ${text}`);
    };
    if (!store) throw failure(new Error('Operation not supported'));
    try {
      if (action.kind === 'create') await store.create(action.name);
      else if (action.kind === 'apply') await store.apply(action.name);
      else await store.delete(action.name);
    } catch (error) {
      throw failure(error);
    }
    await image.flush();
  } finally {
    await closeAll(image);
  }
  return 0;
}
