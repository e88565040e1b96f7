import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { spawnPeer, waitFor } from '../nbd/test-support/peers.js';

/**
 * A minimal QMP session with qemu-storage-daemon (sockets under `dir`): one command at a
 * time, events skipped. `exported` names a node given an NBD export, a user of the node
 * as a guest device would be.
 */
export async function qsdSession(dir: string, blockdevs: string[], exported: string | null) {
  const socketPath = join(dir, `qmp-${Math.random().toString(36).slice(2)}.sock`);
  // An export is a user of the node, as a guest device would be.
  const user =
    exported !== null
      ? [
          '--nbd-server',
          `addr.type=unix,addr.path=${socketPath}.nbd`,
          '--export',
          `type=nbd,id=exp,node-name=${exported},writable=on`,
        ]
      : [];
  // qemu-storage-daemon takes its options in order: the export comes after the node.
  const daemon = await spawnPeer('qemu-storage-daemon', [
    ...blockdevs,
    ...user,
    '--chardev',
    `socket,id=mon,path=${socketPath},server=on,wait=off`,
    '--monitor',
    'chardev=mon',
  ]);
  let socket: Socket | null = null;
  await waitFor(
    () =>
      new Promise<void>((resolve, reject) => {
        const s = connect(socketPath);
        s.once('connect', () => {
          socket = s;
          resolve();
        });
        s.once('error', reject);
      }),
  );
  const conn = socket as unknown as Socket;
  let buffered = '';
  const waiting: Array<(line: Record<string, unknown>) => void> = [];
  conn.on('data', (chunk) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const message = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
      buffered = buffered.slice(nl + 1);
      if ('return' in message || 'error' in message) waiting.shift()?.(message);
    }
  });
  const execute = (command: string, args?: unknown) =>
    new Promise<Record<string, unknown>>((resolve) => {
      waiting.push(resolve);
      conn.write(
        `${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`,
      );
    });
  await execute('qmp_capabilities');
  return {
    execute,
    async quit() {
      const gone = new Promise((r) => daemon.once('exit', r));
      await execute('quit');
      conn.destroy();
      await gone;
    },
  };
}
