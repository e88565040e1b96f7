import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type JsonObject, QmpClient } from '@strata/qmp-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkImage, createImage, DAEMONS, runDaemon, scratch, startDaemon } from './test-support/daemons.js';

/** stderr without the program name, which is the one intended difference. */
const message = (stderr: string, program: string) => stderr.replace(new RegExp(`^${program}: `, 'gm'), '');

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function waitUntil(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('command-line errors are the same in both daemons', () => {
  const cases: string[][] = [
    ['--bogus'],
    ['--blockdev'],
    ['--blockdev', 'driver=nope,node-name=x'],
    ['--blockdev', 'null-co'],
    ['--block', 'null-co'],
    ['--blockdev', 'driver=file,node-name=f,filename=/nonexistent/strata.qcow2'],
    ['--blockdev', 'driver=null-co,node-name=n', '--blockdev', 'driver=null-co,node-name=n'],
    ['--chardev', 'socket,id=c'],
    ['--chardev', 'socket,path=x.sock,server=on'],
    ['--chardev', 'socket,id=c,host=127.0.0.1,server=on'],
    ['--chardev', 'socket,id=c,path=x.sock,server=maybe'],
    ['--monitor', 'chardev=zz'],
    ['--monitor', 'c=3'],
    ['--object', 'throttle-group'],
    ['--object', 'throttle-group,id=t1', '--object', 'throttle-group,id=t1'],
    ['--export', 'type=nbd,id=e,node-name=n'],
    ['--nbd-server', 'addr.type=unix'],
    ['--blockdev', 'driver=null-co,node-name=n', '--export', 'type=nbd,id=e,node-name=n'],
    ['--export', 'type=vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=x.sock'],
    ['--help=3'],
    ['-x'],
    ['stray'],
  ];
  it.concurrent.each(cases)('%s …', async (...args: string[]) => {
    const [qemu, strata] = await Promise.all(DAEMONS.map((kind) => runDaemon(kind, args)));
    expect(qemu!.code).toBe(1);
    expect(strata!.code).toBe(qemu!.code);
    expect(message(strata!.stderr, 'strata-storage-daemon')).toBe(
      message(qemu!.stderr, 'qemu-storage-daemon'),
    );
  });
});

describe.each(DAEMONS)('%s: the process', (kind) => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, remove } = await scratch());
  });
  afterEach(async () => {
    await remove();
  });

  it('prints help and version and exits 0', async () => {
    const help = await runDaemon(kind, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.split('\n')[0]).toBe(`Usage: ${kind} [options]`);
    for (const option of [
      '--blockdev',
      '--chardev',
      '--monitor',
      '--nbd-server',
      '--export',
      '--object',
      '--pidfile',
      '--daemonize',
    ]) {
      expect(help.stdout).toContain(option);
    }
    const version = await runDaemon(kind, ['-V']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(new RegExp(`^${kind} version \\d+\\.\\d+\\.\\d+ `));
  });

  it('writes a pid file, accepts throttle groups, and exits 0 on SIGTERM removing the pid file', async () => {
    const pidfile = join(dir, 'daemon.pid');
    const image = join(dir, 'disk.qcow2');
    await createImage(image, '1M');
    const daemon = await startDaemon(kind, dir, [
      '--object',
      'throttle-group,id=tg0,x-bps-total=1048576',
      '--blockdev',
      `driver=qcow2,node-name=disk,file.driver=file,file.filename=${image}`,
      '--pidfile',
      pidfile,
    ]);
    await waitUntil(() => exists(pidfile), 'the pid file');
    expect(Number((await readFile(pidfile, 'utf8')).trim())).toBe(daemon.process.pid);
    const names = ((await daemon.client.executeRaw('query-named-block-nodes')) as JsonObject[]).map(
      (n) => n['node-name'],
    );
    expect(names).toContain('disk');
    const ended = await daemon.kill('SIGTERM');
    expect(ended.code).toBe(0);
    expect(await exists(pidfile)).toBe(false);
    expect(await checkImage(image)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });

  it('serves a monitor on TCP', async () => {
    const port = await freePort();
    const daemon = await startDaemon(kind, dir, [
      '--chardev',
      `socket,id=tcp0,host=127.0.0.1,port=${port},server=on,wait=off`,
      '--monitor',
      'tcp0',
    ]);
    const tcp = await QmpClient.connect({ host: '127.0.0.1', port });
    expect(await tcp.executeRaw('query-jobs')).toEqual([]);
    await tcp.close();
    expect((await daemon.quit()).code).toBe(0);
  });

  it('daemonizes: the parent exits 0 once the monitor is up, the daemon runs until quit', async () => {
    const pidfile = join(dir, 'daemon.pid');
    const socket = join(dir, 'bg.qmp');
    const parent = await runDaemon(kind, [
      '--chardev',
      `socket,id=m,path=${socket},server=on,wait=off`,
      '--monitor',
      'm',
      '--daemonize',
      '--pidfile',
      pidfile,
    ]);
    expect(parent.code).toBe(0);
    expect(await exists(socket)).toBe(true);
    const pid = Number((await readFile(pidfile, 'utf8')).trim());
    expect(alive(pid)).toBe(true);
    const client = await QmpClient.connect({ path: socket });
    await client.executeRaw('quit');
    await client.close();
    await waitUntil(async () => !alive(pid), 'the daemon to exit');
    expect(await exists(pidfile)).toBe(false);
  });
});
