import { lstat, unlink, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { BlockGraph, type BlockdevOptions, blockdevAdd } from '@strata/block-layer';
import { type JsonObject, listenQmp, parseDaemonOption, type QmpServer } from '@strata/qmp-protocol';
import { createMonitor, type Monitor } from '../monitor/monitor.js';
import { flatAddress } from '../monitor/nbd-commands.js';
import { toQmpError } from '../monitor/qmp-errors.js';
import { parseChardev, type SocketChardev } from './chardev.js';
import { type DaemonArgument, DaemonOptionError } from './command-line.js';

/** What the daemon was told to do besides serving its monitors. */
export interface DaemonSettings {
  daemonize: boolean;
  pidfile: string | undefined;
}

/** A started daemon: its monitor, listeners and a stop that undoes everything it set up. */
export interface RunningDaemon {
  readonly monitor: Monitor;
  /** `--object` definitions accepted, by id (throttle groups are recorded, not yet applied). */
  readonly objects: ReadonlyMap<string, JsonObject>;
  /** Closes the monitors, cancels jobs, closes images, removes the pid file and sockets. */
  stop(): Promise<void>;
}

/** Options of {@link startDaemon}. */
export interface StartOptions {
  /** Called when a client sends `quit`. */
  onQuit: () => void;
}

/**
 * Acts on the options in command-line order, as qemu-storage-daemon does: each `--blockdev`
 * is opened, each `--chardev` listens and each `--monitor` binds a QMP monitor to one, so a
 * later option can refer to what an earlier one created. The first failure undoes what was
 * done and is thrown as a {@link DaemonOptionError} prefixed with the option as written.
 */
export async function startDaemon(
  args: readonly DaemonArgument[],
  settings: DaemonSettings,
  options: StartOptions,
): Promise<RunningDaemon> {
  const graph = new BlockGraph();
  const monitor = createMonitor(graph, { onQuit: options.onQuit });
  const chardevs = new Map<string, SocketChardev>();
  const listeners: { listener: Server; chardev: SocketChardev }[] = [];
  const objects = new Map<string, JsonObject>();
  const monitors: SocketChardev[] = [];
  const stop = async (): Promise<void> => {
    for (const { listener, chardev } of listeners) {
      listener.close();
      if (chardev.kind === 'unix') await unlink(chardev.path).catch(() => undefined);
    }
    monitor.server.closeAll();
    await monitor.shutdown();
    if (settings.pidfile !== undefined) await unlink(settings.pidfile).catch(() => undefined);
  };
  try {
    for (const arg of args) {
      try {
        await apply(arg);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const text =
          error instanceof DaemonOptionError || !(error instanceof Error) ? message : toQmpError(error).desc;
        throw new DaemonOptionError(`${arg.text}: ${text}`);
      }
    }
    // As in QEMU, monitors serve only once every option has been acted on: a client never
    // sees a half-opened graph.
    for (const chardev of monitors)
      listeners.push({ listener: await listen(monitor.server, chardev), chardev });
    if (settings.pidfile !== undefined) await writeFile(settings.pidfile, `${process.pid}\n`);
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { monitor, objects, stop };

  async function apply(arg: DaemonArgument): Promise<void> {
    switch (arg.option) {
      case '--blockdev': {
        const parsed = parseDaemonOption('--blockdev', arg.value);
        await blockdevAdd(graph, parsed as unknown as BlockdevOptions);
        return;
      }
      case '--chardev': {
        const chardev = parseChardev(arg.value);
        if (chardevs.has(chardev.id)) throw new DaemonOptionError('duplicate yank instance');
        chardevs.set(chardev.id, chardev);
        return;
      }
      case '--monitor': {
        const parsed = parseDaemonOption('--monitor', arg.value);
        const id = String(parsed['chardev']);
        const chardev = chardevs.get(id);
        if (!chardev) throw new DaemonOptionError(`chardev "${id}" not found`);
        if (parsed['mode'] === 'readline') {
          throw new DaemonOptionError('Only QMP is supported');
        }
        monitors.push(chardev);
        return;
      }
      case '--object': {
        const parsed = parseDaemonOption('--object', arg.value);
        const id = String(parsed['id']);
        if (parsed['qom-type'] !== 'throttle-group') {
          throw new DaemonOptionError(
            `object type '${String(parsed['qom-type'])}' is not supported by strata-storage-daemon`,
          );
        }
        if (objects.has(id)) {
          throw new DaemonOptionError(
            `attempt to add duplicate property '${id}' to object (type 'container')`,
          );
        }
        objects.set(id, parsed);
        return;
      }
      case '--nbd-server': {
        const parsed = parseDaemonOption('--nbd-server', arg.value);
        const max = parsed['max-connections'];
        await monitor.nbd.start(
          flatAddress(parsed['addr'] as JsonObject),
          typeof max === 'number' ? max : undefined,
          parsed['tls-creds'] !== undefined || parsed['tls-authz'] !== undefined,
        );
        return;
      }
      case '--export': {
        const parsed = parseDaemonOption('--export', arg.value);
        if (parsed['type'] !== 'nbd') {
          // Checked by node first, as QEMU resolves the node before the export type's driver.
          const node = String(parsed['node-name']);
          if (!graph.find(node)) throw new DaemonOptionError(`Cannot find device='' nor node-name='${node}'`);
          throw new DaemonOptionError(
            `export type '${String(parsed['type'])}' is not supported by strata-storage-daemon`,
          );
        }
        monitor.nbd.addExport(parsed);
        return;
      }
      default:
        return;
    }
  }
}

/** Listens on a socket chardev; a stale unix socket file is replaced, as QEMU does. */
async function listen(server: QmpServer, chardev: SocketChardev): Promise<Server> {
  if (chardev.kind === 'unix') {
    const existing = await lstat(chardev.path).catch(() => null);
    if (existing?.isSocket()) await unlink(chardev.path);
    return listenQmp(server, { path: chardev.path });
  }
  return listenQmp(server, { host: chardev.host, port: chardev.port });
}
