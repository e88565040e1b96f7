import { join } from 'node:path';
import type { JsonObject, QmpEventListener } from '@strata/qmp-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkImage,
  createImage,
  DAEMONS,
  type DaemonSession,
  imageInfo,
  readsPattern,
  scratch,
  startDaemon,
  writePattern,
} from './test-support/daemons.js';
import { errorOf } from './test-support/qmp-error.js';

const MiB = 1024 * 1024;
const SIZE = 4 * MiB;
const CLEAN = { errors: 0, leaks: 0, corruptions: 0 };

/** JOB_STATUS_CHANGE statuses of job `id` until it reaches `status`. */
async function statusesUntil(listener: QmpEventListener, id: string, status: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  for (;;) {
    const event = await listener.next(
      (e) => e.event === 'JOB_STATUS_CHANGE' && (e.data as JsonObject)['id'] === id,
      60_000,
    );
    const current = (event.data as JsonObject)['status'];
    seen.push(current);
    if (current === status) return seen;
  }
}

describe.each(DAEMONS)('%s: blockdev-create and job transactions', (kind) => {
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

  it('creates a qcow2 image with two create jobs that wait for a manual dismiss', async () => {
    const image = join(dir, 'created.qcow2');
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    const listener = client.listen({ names: ['JOB_STATUS_CHANGE'] });
    await client.executeRaw('blockdev-create', {
      'job-id': 'cr1',
      options: { driver: 'file', filename: image, size: 0 },
    });
    expect(await statusesUntil(listener, 'cr1', 'concluded')).toEqual([
      'created',
      'running',
      'waiting',
      'pending',
      'concluded',
    ]);
    expect(await client.executeRaw('query-jobs')).toEqual([
      { 'current-progress': 1, status: 'concluded', 'total-progress': 1, type: 'create', id: 'cr1' },
    ]);
    await client.executeRaw('job-dismiss', { id: 'cr1' });
    expect(await statusesUntil(listener, 'cr1', 'null')).toEqual(['null']);
    await client.executeRaw('blockdev-add', { driver: 'file', 'node-name': 'cf', filename: image });
    await client.executeRaw('blockdev-create', {
      'job-id': 'cr2',
      options: { driver: 'qcow2', file: 'cf', size: SIZE, 'cluster-size': 65536 },
    });
    expect((await statusesUntil(listener, 'cr2', 'concluded')).at(-1)).toBe('concluded');
    await client.executeRaw('job-dismiss', { id: 'cr2' });
    await statusesUntil(listener, 'cr2', 'null');
    listener.close();
    await client.executeRaw('blockdev-add', { driver: 'qcow2', 'node-name': 'c', file: 'cf' });
    const node = ((await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[]).find(
      (n) => n['node-name'] === 'c',
    );
    expect(node?.['image']).toMatchObject({ 'virtual-size': SIZE, 'cluster-size': 65536, format: 'qcow2' });
    expect((await daemon.quit()).code).toBe(0);
    expect(await imageInfo(image)).toMatchObject({
      format: 'qcow2',
      'virtual-size': SIZE,
      'cluster-size': 65536,
    });
    expect(await checkImage(image)).toEqual(CLEAN);
  });

  it('adds a bitmap and starts a backup atomically; a failing transaction leaves no job and no bitmap', async () => {
    const source = join(dir, 'src.qcow2');
    const full = join(dir, 'full.qcow2');
    await createImage(source, String(SIZE));
    await writePattern(source, 0x66, 0, MiB);
    await createImage(full, String(SIZE));
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'src',
      file: { driver: 'file', filename: source },
    });
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'full',
      file: { driver: 'file', filename: full },
      backing: null,
    });
    const listener = client.listen({ names: ['JOB_STATUS_CHANGE'] });
    expect(
      await errorOf(
        client.executeRaw('transaction', {
          actions: [
            { type: 'block-dirty-bitmap-add', data: { node: 'src', name: 'gone' } },
            {
              type: 'blockdev-backup',
              data: { 'job-id': 'tb', device: 'src', target: 'full', sync: 'full' },
            },
            { type: 'abort', data: {} },
          ],
        }),
      ),
    ).toEqual({ class: 'GenericError', desc: 'Transaction aborted using Abort action' });
    expect(listener.drain().map((e) => (e.data as JsonObject)['status'])).toEqual([
      'created',
      'aborting',
      'concluded',
      'null',
    ]);
    expect(await client.executeRaw('query-jobs')).toEqual([]);
    const bitmapsOfSrc = async () =>
      ((await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[]).find(
        (n) => n['node-name'] === 'src',
      )?.['dirty-bitmaps'];
    expect(await bitmapsOfSrc()).toBeUndefined();

    expect(
      await errorOf(
        client.executeRaw('blockdev-backup', {
          'job-id': 'x',
          device: 'src',
          target: 'full',
          sync: 'incremental',
        }),
      ),
    ).toEqual({
      class: 'GenericError',
      desc: "must provide a valid bitmap name for 'incremental' sync mode",
    });

    await client.executeRaw('transaction', {
      actions: [
        {
          type: 'block-dirty-bitmap-add',
          data: { node: 'src', name: 'bm0', persistent: true, granularity: 65536 },
        },
        {
          type: 'blockdev-backup',
          data: { 'job-id': 'b-full', device: 'src', target: 'full', sync: 'full' },
        },
      ],
    });
    expect(await statusesUntil(listener, 'b-full', 'null')).toEqual([
      'created',
      'running',
      'paused',
      'running',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    listener.close();
    expect(await bitmapsOfSrc()).toEqual([
      { name: 'bm0', recording: true, persistent: true, busy: false, granularity: 65536, count: 0 },
    ]);
    for (const [sync, extra, desc] of [
      ['bitmap', {}, 'Bitmap sync mode must be given when providing a bitmap'],
      ['full', {}, 'Bitmap sync mode must be given when providing a bitmap'],
      [
        'incremental',
        { 'bitmap-mode': 'never' },
        "Bitmap sync mode must be 'on-success' when using sync mode 'incremental'",
      ],
    ] as const) {
      expect(
        await errorOf(
          client.executeRaw('blockdev-backup', {
            'job-id': 'b-x',
            device: 'src',
            target: 'full',
            sync,
            bitmap: 'bm0',
            ...extra,
          }),
        ),
      ).toEqual({ class: 'GenericError', desc });
    }
    expect((await daemon.quit()).code).toBe(0);
    expect(await readsPattern(full, 0x66, 0, MiB)).toBe(true);
    for (const image of [source, full]) expect(await checkImage(image)).toEqual(CLEAN);
  });
});
