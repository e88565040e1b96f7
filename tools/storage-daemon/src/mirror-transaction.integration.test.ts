import { join } from 'node:path';
import type { JsonObject } from '@strata/qmp-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openImage } from '@strata/image-format';
import { BLOCK, blockPattern, GuestWriter } from './demo/guest-writer.js';
import {
  createImage,
  type DaemonSession,
  readsPattern,
  scratch,
  startDaemon,
  tool,
  writePattern,
} from './test-support/daemons.js';
import { errorOf } from './test-support/qmp-error.js';

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;

// Strata only: `blockdev-mirror` as a transaction action is Strata's extension, and QEMU 7.2's
// transaction refuses it, so there is no differential peer for these scenarios.
describe('strata-storage-daemon: snapshot and mirror in one transaction (Strata extension)', () => {
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

  /** base (0x11) under the active node `src`; the destination's copy of base; an empty target over it. */
  async function chain(): Promise<{ base: string; overlay: string; target: string }> {
    const base = join(dir, 'base.qcow2');
    const overlay = join(dir, 'overlay.qcow2');
    const copy = join(dir, 'dest-base.qcow2');
    const target = join(dir, 'dest-overlay.qcow2');
    await createImage(base, String(SIZE));
    await writePattern(base, 0x11, 0, 4 * MiB);
    await tool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'qcow2', base, copy]);
    await createImage(overlay, '', base);
    // The overlay already holds the guest's first write after the snapshot point.
    await writePattern(overlay, 0x22, MiB, MiB);
    await createImage(target, '', copy);
    daemon = await startDaemon('strata-storage-daemon', dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'src',
      file: { driver: 'file', filename: base },
    });
    for (const [name, path] of [
      ['ovl', overlay],
      ['dst', target],
    ] as const) {
      await client.executeRaw('blockdev-add', {
        driver: 'qcow2',
        'node-name': name,
        file: { driver: 'file', filename: path },
        backing: null,
      });
    }
    return { base, overlay, target };
  }

  it('snapshots onto a new overlay and mirrors it; after the pivot the destination chain holds every write', async () => {
    const { target } = await chain();
    const { client } = daemon as DaemonSession;
    const listener = client.listen({ names: ['BLOCK_JOB_READY', 'JOB_STATUS_CHANGE'] });
    await client.executeRaw('transaction', {
      actions: [
        { type: 'blockdev-snapshot', data: { node: 'src', overlay: 'ovl' } },
        { type: 'blockdev-mirror', data: { 'job-id': 'm', device: 'ovl', target: 'dst', sync: 'top' } },
      ],
    });
    await listener.next((e) => e.event === 'BLOCK_JOB_READY', 60_000);
    await client.executeRaw('job-complete', { id: 'm' });
    await listener.next(
      (e) => e.event === 'JOB_STATUS_CHANGE' && (e.data as JsonObject)['status'] === 'concluded',
      60_000,
    );
    expect((await daemon?.quit())?.code).toBe(0);
    // The destination overlay over its own copy of base reads the whole disk.
    expect(await readsPattern(target, 0x11, 0, MiB)).toBe(true);
    expect(await readsPattern(target, 0x22, MiB, MiB)).toBe(true);
    expect(await readsPattern(target, 0x11, 2 * MiB, 2 * MiB)).toBe(true);
    expect(await readsPattern(target, 0, 4 * MiB, 4 * MiB)).toBe(true);
  });

  it('rolls the snapshot back when the mirror in the same transaction fails', async () => {
    await chain();
    const { client } = daemon as DaemonSession;
    const refused = await errorOf(
      client.executeRaw('transaction', {
        actions: [
          { type: 'blockdev-snapshot', data: { node: 'src', overlay: 'ovl' } },
          { type: 'blockdev-mirror', data: { 'job-id': 'm', device: 'ovl', target: 'nope', sync: 'top' } },
        ],
      }),
    );
    expect(refused.class).toBe('GenericError');
    expect(await client.executeRaw('query-jobs')).toEqual([]);
    // `ovl` has no backing node again, so the same snapshot can be taken (it is refused onto an overlay with one).
    await client.executeRaw('transaction', {
      actions: [{ type: 'blockdev-snapshot', data: { node: 'src', overlay: 'ovl' } }],
    });
    // ... and taking it twice is refused, so the first attempt really was undone.
    expect(
      (
        await errorOf(
          client.executeRaw('transaction', {
            actions: [{ type: 'blockdev-snapshot', data: { node: 'src', overlay: 'ovl' } }],
          }),
        )
      ).class,
    ).toBe('GenericError');
  });

  it('creates the overlay with blockdev-snapshot-sync and mirrors it in the same transaction while a guest writes', async () => {
    const base = join(dir, 'base.qcow2');
    const copy = join(dir, 'dest-base.qcow2');
    const target = join(dir, 'dest-overlay.qcow2');
    const nbd = join(dir, 'guest.nbd');
    await createImage(base, String(SIZE));
    await writePattern(base, 0x11, 0, 4 * MiB);
    // The destination's base is filled by a backup job once the guest's old layer is read-only.
    await createImage(copy, String(SIZE));
    await createImage(target, '', copy);
    daemon = await startDaemon('strata-storage-daemon', dir, [
      '--blockdev',
      `driver=qcow2,node-name=disk,file.driver=file,file.filename=${base}`,
      '--nbd-server',
      `addr.type=unix,addr.path=${nbd}`,
      '--export',
      'type=nbd,id=guest,node-name=disk,name=vda,writable=on',
    ]);
    const { client } = daemon;
    for (const [name, path] of [
      ['dst', target],
      ['dst-base', copy],
    ] as const) {
      await client.executeRaw('blockdev-add', {
        driver: 'qcow2',
        'node-name': name,
        file: { driver: 'file', filename: path },
        backing: null,
      });
    }
    const blocks = SIZE / BLOCK;
    const initial = new Map<number, number>();
    const writer = await GuestWriter.connect(nbd, 'vda', blocks, initial);
    writer.start();
    await writer.waitForWrites(20);
    const listener = client.listen({ names: ['BLOCK_JOB_READY', 'BLOCK_JOB_COMPLETED'] });
    await client.executeRaw('transaction', {
      actions: [
        {
          type: 'blockdev-snapshot-sync',
          data: {
            'node-name': 'disk',
            'snapshot-file': join(dir, 'snap.qcow2'),
            'snapshot-node-name': 'snap',
          },
        },
        { type: 'blockdev-mirror', data: { 'job-id': 'm', device: 'snap', target: 'dst', sync: 'top' } },
      ],
    });
    await client.executeRaw('blockdev-backup', {
      'job-id': 'b',
      device: 'disk',
      target: 'dst-base',
      sync: 'full',
    });
    const done = (id: string) => (e: { event: string; data?: unknown }) =>
      e.event === 'BLOCK_JOB_COMPLETED' && (e.data as JsonObject)['device'] === id;
    const backup = await listener.next(done('b'), 60_000);
    expect((backup.data as JsonObject)['error']).toBeUndefined();
    await listener.next((e) => e.event === 'BLOCK_JOB_READY', 60_000);
    await client.executeRaw('job-complete', { id: 'm' });
    const completed = await listener.next(done('m'), 60_000);
    expect((completed.data as JsonObject)['error']).toBeUndefined();
    await writer.waitForWrites(20);
    await writer.stop();
    expect((await daemon.quit()).code).toBe(0);
    // Every block: the guest's last acknowledged write, else base's 0x11, else zeroes.
    const image = await openImage(target, { format: 'qcow2', readOnly: true });
    const differing: number[] = [];
    const buf = new Uint8Array(BLOCK);
    try {
      for (let block = 0; block < blocks; block++) {
        await image.read(buf, block * BLOCK);
        const seq = writer.acknowledged.get(block);
        const expected =
          seq !== undefined
            ? blockPattern(seq, block)
            : new Uint8Array(BLOCK).fill(block * BLOCK < 4 * MiB ? 0x11 : 0);
        if (Buffer.compare(buf, expected) !== 0) differing.push(block);
      }
    } finally {
      await image.close();
    }
    expect(differing).toEqual([]);
  });
});
