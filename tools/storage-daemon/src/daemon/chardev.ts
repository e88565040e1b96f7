import { parseKeyval } from '@strata/qmp-protocol';
import { DaemonOptionError } from './command-line.js';

/** A `--chardev socket` the daemon listens on (the only kind a storage daemon monitor needs). */
export type SocketChardev =
  | { id: string; kind: 'unix'; path: string; server: boolean; wait: boolean }
  | { id: string; kind: 'tcp'; host: string; port: number; server: boolean; wait: boolean };

/**
 * Parses `--chardev socket,id=...,path=...|host=...,port=...[,server=on][,wait=off]`.
 * Only listening sockets are supported; a client-mode socket is refused by name.
 */
export function parseChardev(value: string): SocketChardev {
  const opts = parseKeyval(value, { impliedKey: 'backend' });
  const text = (key: string): string | undefined => {
    const v = opts[key];
    return typeof v === 'string' ? v : undefined;
  };
  const backend = text('backend');
  const id = text('id');
  if (backend === undefined) throw new DaemonOptionError('chardev: "" missing backend');
  if (id === undefined) throw new DaemonOptionError('chardev: no id specified');
  if (backend !== 'socket') {
    throw new DaemonOptionError(`chardev backend '${backend}' is not supported by strata-storage-daemon`);
  }
  const server = onOff(text('server'), false, 'server');
  const wait = onOff(text('wait'), true, 'wait');
  const path = text('path');
  const host = text('host');
  const port = text('port');
  // Neither a path nor a host means a file descriptor to QEMU, which strata does not take.
  if (path === undefined && host === undefined) throw new DaemonOptionError('Unable to parse FD number ');
  if (path === undefined && port === undefined) throw new DaemonOptionError('chardev: socket: no port given');
  if (!server)
    throw new DaemonOptionError('client-mode chardev sockets are not supported by strata-storage-daemon');
  if (path !== undefined) return { id, kind: 'unix', path, server, wait };
  if (port === undefined) throw new DaemonOptionError('chardev: socket: no port given');
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new DaemonOptionError(`Port '${port}' is invalid`);
  return { id, kind: 'tcp', host: host ?? '0.0.0.0', port: Number(port), server, wait };
}

/** QemuOpts booleans: on/off, yes/no, true/false. */
function onOff(value: string | undefined, fallback: boolean, name: string): boolean {
  if (value === undefined) return fallback;
  if (value === 'on' || value === 'yes' || value === 'true') return true;
  if (value === 'off' || value === 'no' || value === 'false') return false;
  throw new DaemonOptionError(`Parameter '${name}' expects 'on' or 'off'`);
}
