import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createQcow2, openImage } from '@strata/image-format';
import type { JsonObject, QmpClient } from '@strata/qmp-protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BLOCK, blockPattern, GuestWriter } from './demo/guest-writer.js';
import { connectMonitor } from './demo/monitor-connection.js';
import { scratch } from './test-support/daemons.js';

const run = promisify(execFile);
const STRATA_BIN = fileURLToPath(new URL('../bin/strata-storage-daemon.js', import.meta.url));
const MiB = 1024 * 1024;
const DISK_SIZE = 16 * MiB;
const BLOCKS = DISK_SIZE / BLOCK;
const NBD_PORT = 10809;

/** Two "hosts": network namespaces joined by a veth pair, or loopback where they cannot be made. */
interface Hosts {
  /** Command prefix that runs a process on host A / host B. */
  prefixA: string[];
  prefixB: string[];
  /** The address host B's NBD server listens on, as host A reaches it. */
  addressB: string;
  port: number;
  remove(): Promise<void>;
}

const tag = String(process.pid % 10000);
const NS_A = `strata-a-${tag}`;
const NS_B = `strata-b-${tag}`;
const SUBNET = `10.200.${process.pid % 250}`;

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

async function namespaces(): Promise<Hosts> {
  await ip('netns', 'add', NS_A);
  const remove = async () => {
    // Deleting a namespace deletes the veth end inside it, and with it the pair.
    await ip('netns', 'del', NS_A).catch(() => undefined);
    await ip('netns', 'del', NS_B).catch(() => undefined);
  };
  try {
    await ip('netns', 'add', NS_B);
    await ip(
      'link',
      'add',
      `sva${tag}`,
      'netns',
      NS_A,
      'type',
      'veth',
      'peer',
      'name',
      `svb${tag}`,
      'netns',
      NS_B,
    );
    for (const [ns, dev, host] of [
      [NS_A, `sva${tag}`, 1],
      [NS_B, `svb${tag}`, 2],
    ] as const) {
      await ip('-n', ns, 'addr', 'add', `${SUBNET}.${host}/24`, 'dev', dev);
      await ip('-n', ns, 'link', 'set', dev, 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    prefixA: ['ip', 'netns', 'exec', NS_A],
    prefixB: ['ip', 'netns', 'exec', NS_B],
    addressB: `${SUBNET}.2`,
    port: NBD_PORT,
    remove,
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address !== 'object') throw new Error('no port');
  return address.port;
}

async function loopback(): Promise<Hosts> {
  return { prefixA: [], prefixB: [], addressB: '127.0.0.1', port: await freePort(), remove: async () => {} };
}

/** Why namespaces cannot be made here, or null when they can. */
async function namespaceObstacle(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'not running as root';
  try {
    await run('ip', ['-V']);
  } catch {
    return '`ip` is missing (apt-get install -y iproute2)';
  }
  return null;
}

interface Daemon {
  client: QmpClient;
  process: ChildProcess;
  quit(): Promise<number | null>;
}

async function startDaemon(prefix: string[], dir: string, name: string): Promise<Daemon> {
  const socket = join(dir, `${name}.qmp`);
  const argv = [
    ...prefix,
    process.execPath,
    STRATA_BIN,
    '--chardev',
    `socket,id=mon0,path=${socket},server=on,wait=off`,
    '--monitor',
    'chardev=mon0',
  ];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`daemon ${name} exited at startup`);
    if (
      await stat(socket).then(
        () => true,
        () => false,
      )
    )
      break;
    if (i > 500) throw new Error(`daemon ${name} did not create its monitor socket`);
    await new Promise((r) => setTimeout(r, 20));
  }
  // The monitor is a unix socket in the shared file system, so the test drives both hosts.
  const client = await connectMonitor(socket, { commandTimeoutMs: 60_000 });
  return {
    client,
    process: child,
    async quit() {
      await client.executeRaw('quit').catch(() => undefined);
      const code = await exited;
      await client.close();
      return code;
    },
  };
}

let dir: string;
let removeDir: () => Promise<void>;
let hosts: Hosts;
let mode: string;

beforeAll(async () => {
  ({ dir, remove: removeDir } = await scratch());
  const obstacle = await namespaceObstacle();
  if (obstacle === null) {
    try {
      hosts = await namespaces();
      mode = `network namespaces ${NS_A} and ${NS_B} joined by a veth pair (${SUBNET}.0/24)`;
    } catch (error) {
      hosts = await loopback();
      mode = `loopback TCP: network namespaces could not be created (${(error as Error).message.trim()})`;
    }
  } else {
    hosts = await loopback();
    mode = `loopback TCP: network namespaces cannot be created (${obstacle})`;
  }
  console.log(`two hosts on one machine: ${mode}`);
});

afterAll(async () => {
  await hosts?.remove();
  await removeDir?.();
});

it('mirrors a disk that is being written from host A to host B over NBD, pivots, and B holds every write', async () => {
  // Host A's disk: a base image with known contents.
  const source = join(dir, 'a-disk.qcow2');
  const target = join(dir, 'b-disk.qcow2');
  await createQcow2(source, { size: DISK_SIZE });
  const initial = new Map<number, number>();
  const image = await openImage(source, { format: 'qcow2' });
  for (let block = 0; block < BLOCKS; block += 2) {
    await image.write(blockPattern(0, block), block * BLOCK);
    initial.set(block, 0);
  }
  await image.close();
  await createQcow2(target, { size: DISK_SIZE });

  const b = await startDaemon(hosts.prefixB, dir, 'host-b');
  const a = await startDaemon(hosts.prefixA, dir, 'host-a');
  try {
    await b.client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'incoming',
      file: { driver: 'file', filename: target },
    });
    await b.client.executeRaw('nbd-server-start', {
      addr: { type: 'inet', data: { host: hosts.addressB, port: String(hosts.port) } },
    });
    await b.client.executeRaw('block-export-add', {
      type: 'nbd',
      id: 'incoming',
      'node-name': 'incoming',
      name: 'disk',
      writable: true,
    });

    await a.client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'disk',
      file: { driver: 'file', filename: source },
    });
    const guestSocket = join(dir, 'guest.nbd');
    await a.client.executeRaw('nbd-server-start', { addr: { type: 'unix', data: { path: guestSocket } } });
    await a.client.executeRaw('block-export-add', {
      type: 'nbd',
      id: 'guest',
      'node-name': 'disk',
      name: 'vda',
      writable: true,
    });
    const writer = await GuestWriter.connect(guestSocket, 'vda', BLOCKS, initial);
    writer.start();
    await writer.waitForWrites(50);

    // Host A reaches host B's export across the link.
    await a.client.executeRaw('blockdev-add', {
      driver: 'nbd',
      'node-name': 'remote',
      server: { type: 'inet', host: hosts.addressB, port: String(hosts.port) },
      export: 'disk',
    });
    const events = a.client.listen({ names: ['BLOCK_JOB_READY', 'BLOCK_JOB_COMPLETED'] });
    await a.client.executeRaw('blockdev-mirror', {
      'job-id': 'migrate',
      device: 'disk',
      target: 'remote',
      sync: 'full',
    });
    await events.next((e) => e.event === 'BLOCK_JOB_READY', 120_000);
    await a.client.executeRaw('job-complete', { id: 'migrate' });
    const completed = await events.next((e) => e.event === 'BLOCK_JOB_COMPLETED', 120_000);
    expect((completed.data as JsonObject)['error']).toBeUndefined();
    // After the pivot the guest's writes go to host B.
    await writer.waitForWrites(50);
    await writer.stop();
    expect(writer.writes).toBeGreaterThanOrEqual(100);
    expect(await a.quit()).toBe(0);
    expect(await b.quit()).toBe(0);

    const received = await openImage(target, { format: 'qcow2', readOnly: true });
    const mismatches: number[] = [];
    const buf = new Uint8Array(BLOCK);
    try {
      for (let block = 0; block < BLOCKS; block++) {
        await received.read(buf, block * BLOCK);
        const seq = writer.acknowledged.get(block);
        const expected = seq === undefined ? new Uint8Array(BLOCK) : blockPattern(seq, block);
        if (Buffer.compare(buf, expected) !== 0) mismatches.push(block);
      }
    } finally {
      await received.close();
    }
    expect(mismatches).toEqual([]);
  } finally {
    if (a.process.exitCode === null) a.process.kill('SIGKILL');
    if (b.process.exitCode === null) b.process.kill('SIGKILL');
  }
}, 180_000);
