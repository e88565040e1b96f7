import { join } from 'node:path';
import type { JsonObject, QmpEventListener } from '@strata/qmp-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkImage,
  createImage,
  DAEMONS,
  type DaemonSession,
  readsPattern,
  scratch,
  startDaemon,
  tool,
  writePattern,
} from './test-support/daemons.js';

const MiB = 1024 * 1024;
const SIZE = 4 * MiB;
const CLEAN = { errors: 0, leaks: 0, corruptions: 0 };

async function until(listener: QmpEventListener, event: string, status?: string): Promise<void> {
  await listener.next(
    (e) => e.event === event && (status === undefined || (e.data as JsonObject)['status'] === status),
    60_000,
  );
}

/** Writes through the daemon's NBD export: the guest's path into the running daemon. */
async function guestWrite(socket: string, pattern: number, offset: number, length: number): Promise<void> {
  await tool('qemu-io', [
    '-f',
    'raw',
    '-c',
    `write -P ${pattern} ${offset} ${length}`,
    `nbd+unix:///vda?socket=${socket}`,
  ]);
}

describe.each(DAEMONS)('%s: jobs while the guest writes over NBD', (kind) => {
  let dir: string;
  let remove: () => Promise<void>;
  let daemon: DaemonSession | undefined;
  beforeEach(async () => {
    ({ dir, remove } = await scratch());
  });
  afterEach(async () => {
    if (daemon && daemon.process.exitCode === null) await daemon.quit();
    daemon = undefined;
    await remove();
  });

  /** base (0x11 at 0) ← top (0x33 at 2 MiB), top exported writable as `vda`. */
  async function exportedChain(): Promise<{ base: string; top: string; socket: string }> {
    const base = join(dir, 'base.qcow2');
    const top = join(dir, 'top.qcow2');
    const socket = join(dir, 'nbd.sock');
    await createImage(base, String(SIZE));
    await writePattern(base, 0x11, 0, MiB);
    await createImage(top, String(SIZE), base);
    await writePattern(top, 0x33, 2 * MiB, MiB);
    daemon = await startDaemon(kind, dir, [
      '--blockdev',
      `driver=qcow2,node-name=top,file.driver=file,file.filename=${top}`,
      '--nbd-server',
      `addr.type=unix,addr.path=${socket}`,
      '--export',
      'type=nbd,id=e0,node-name=top,name=vda,writable=on',
    ]);
    return { base, top, socket };
  }

  it('active commit keeps the base in sync with writes made after READY, then pivots on complete', async () => {
    const { base, top, socket } = await exportedChain();
    const { client } = daemon!;
    const nodes = (await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[];
    const baseNode = String(nodes.find((n) => n['drv'] === 'qcow2' && n['file'] === base)?.['node-name']);
    const listener = client.listen();
    await client.executeRaw('block-commit', { 'job-id': 'ac', device: 'top', 'base-node': baseNode });
    await until(listener, 'BLOCK_JOB_READY');
    await guestWrite(socket, 0x77, 3 * MiB, 128 * 1024);
    await guestWrite(socket, 0x78, 0, 4096);
    await client.executeRaw('block-job-complete', { device: 'ac' });
    await until(listener, 'JOB_STATUS_CHANGE', 'null');
    listener.close();
    // The export now serves the base: a write after the pivot lands there.
    await guestWrite(socket, 0x79, MiB, 4096);
    expect((await daemon!.quit()).code).toBe(0);
    expect(await readsPattern(base, 0x78, 0, 4096)).toBe(true);
    expect(await readsPattern(base, 0x11, 4096, MiB - 4096)).toBe(true);
    expect(await readsPattern(base, 0x79, MiB, 4096)).toBe(true);
    expect(await readsPattern(base, 0x33, 2 * MiB, MiB)).toBe(true);
    expect(await readsPattern(base, 0x77, 3 * MiB, 128 * 1024)).toBe(true);
    for (const image of [base, top]) expect(await checkImage(image)).toEqual(CLEAN);
  });

  it('mirrors writes made during the job to the target, which the export serves after complete', async () => {
    const { base, top, socket } = await exportedChain();
    const target = join(dir, 'target.qcow2');
    await createImage(target, String(SIZE));
    const { client } = daemon!;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'tgt',
      file: { driver: 'file', filename: target },
      backing: null,
    });
    const listener = client.listen();
    await client.executeRaw('blockdev-mirror', { 'job-id': 'm', device: 'top', target: 'tgt', sync: 'full' });
    await until(listener, 'BLOCK_JOB_READY');
    await guestWrite(socket, 0x66, 512 * 1024, 64 * 1024);
    await client.executeRaw('job-complete', { id: 'm' });
    await until(listener, 'JOB_STATUS_CHANGE', 'null');
    listener.close();
    await guestWrite(socket, 0x67, 3 * MiB, 4096);
    expect((await daemon!.quit()).code).toBe(0);
    expect(await readsPattern(target, 0x11, 0, 512 * 1024)).toBe(true);
    expect(await readsPattern(target, 0x66, 512 * 1024, 64 * 1024)).toBe(true);
    expect(await readsPattern(target, 0x33, 2 * MiB, MiB)).toBe(true);
    expect(await readsPattern(target, 0x67, 3 * MiB, 4096)).toBe(true);
    // The source saw the write made during the job, not the one after the pivot.
    expect(await readsPattern(top, 0x66, 512 * 1024, 64 * 1024)).toBe(true);
    expect(await readsPattern(top, 0x67, 3 * MiB, 4096)).toBe(false);
    for (const image of [base, top, target]) expect(await checkImage(image)).toEqual(CLEAN);
  });

  it('takes a full backup with a new bitmap atomically, then an incremental one of the guest writes since', async () => {
    const { base, top, socket } = await exportedChain();
    const full = join(dir, 'full.qcow2');
    const inc = join(dir, 'inc.qcow2');
    await createImage(full, String(SIZE));
    await createImage(inc, String(SIZE));
    const { client } = daemon!;
    for (const [name, file] of [
      ['full', full],
      ['inc', inc],
    ] as const) {
      await client.executeRaw('blockdev-add', {
        driver: 'qcow2',
        'node-name': name,
        file: { driver: 'file', filename: file },
        backing: null,
      });
    }
    const listener = client.listen();
    await client.executeRaw('transaction', {
      actions: [
        { type: 'block-dirty-bitmap-add', data: { node: 'top', name: 'since-full' } },
        { type: 'blockdev-backup', data: { 'job-id': 'bf', device: 'top', target: 'full', sync: 'full' } },
      ],
    });
    await until(listener, 'JOB_STATUS_CHANGE', 'null');
    await guestWrite(socket, 0x91, 64 * 1024, 64 * 1024);
    await guestWrite(socket, 0x92, 3 * MiB, 64 * 1024);
    await client.executeRaw('blockdev-backup', {
      'job-id': 'bi',
      device: 'top',
      target: 'inc',
      sync: 'incremental',
      bitmap: 'since-full',
    });
    const completed = await listener.next(
      (e) => e.event === 'BLOCK_JOB_COMPLETED' && (e.data as JsonObject)['device'] === 'bi',
      60_000,
    );
    expect(completed.data).toMatchObject({ device: 'bi', type: 'backup', len: 2 * 65536, offset: 2 * 65536 });
    await until(listener, 'JOB_STATUS_CHANGE', 'null');
    listener.close();
    expect((await daemon!.quit()).code).toBe(0);
    // The full backup is the chain before the writes; the incremental one holds only them.
    expect(await readsPattern(full, 0x11, 0, MiB)).toBe(true);
    expect(await readsPattern(full, 0x33, 2 * MiB, MiB)).toBe(true);
    expect(await readsPattern(inc, 0x91, 64 * 1024, 64 * 1024)).toBe(true);
    expect(await readsPattern(inc, 0x92, 3 * MiB, 64 * 1024)).toBe(true);
    expect(await readsPattern(inc, 0, 0, 64 * 1024)).toBe(true);
    expect(await readsPattern(inc, 0, 2 * MiB, MiB)).toBe(true);
    for (const image of [base, top, full, inc]) expect(await checkImage(image)).toEqual(CLEAN);
  });
});
