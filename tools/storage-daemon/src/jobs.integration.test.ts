import { join } from 'node:path';
import type { JsonObject, QmpClient, QmpEventListener } from '@strata/qmp-protocol';
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

/** Events of one job until it reaches `status`, as `[event, status-or-data]` pairs. */
async function eventsUntil(listener: QmpEventListener, status: string): Promise<[string, unknown][]> {
  const seen: [string, unknown][] = [];
  for (;;) {
    const event = await listener.next(undefined, 60_000);
    const data = event.data as JsonObject;
    seen.push([event.event, event.event === 'JOB_STATUS_CHANGE' ? data['status'] : data]);
    if (event.event === 'JOB_STATUS_CHANGE' && data['status'] === status) return seen;
  }
}

const statuses = (seen: [string, unknown][]) =>
  seen.filter(([e]) => e === 'JOB_STATUS_CHANGE').map(([, s]) => s);

/** base ← mid ← top, each 4 MiB, with data in base (0-1 MiB) and mid (1-2 MiB). */
async function makeChain(dir: string): Promise<{ base: string; mid: string; top: string }> {
  const base = join(dir, 'base.qcow2');
  const mid = join(dir, 'mid.qcow2');
  const top = join(dir, 'top.qcow2');
  await createImage(base, String(SIZE));
  await writePattern(base, 0x11, 0, MiB);
  await createImage(mid, String(SIZE), base);
  await writePattern(mid, 0x22, MiB, MiB);
  await createImage(top, String(SIZE), mid);
  return { base, mid, top };
}

async function addTop(client: QmpClient, top: string): Promise<void> {
  await client.executeRaw('blockdev-add', {
    driver: 'qcow2',
    'node-name': 'top',
    file: { driver: 'file', filename: top },
  });
}

describe.each(DAEMONS)('%s: jobs', (kind) => {
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

  it('streams the whole chain into the top image', async () => {
    const { base, mid, top } = await makeChain(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await addTop(client, top);
    const listener = client.listen();
    await client.executeRaw('block-stream', { 'job-id': 's1', device: 'top' });
    const seen = await eventsUntil(listener, 'null');
    listener.close();
    expect(statuses(seen)).toEqual(['created', 'running', 'waiting', 'pending', 'concluded', 'null']);
    expect(seen.find(([e]) => e === 'BLOCK_JOB_COMPLETED')?.[1]).toEqual({
      device: 's1',
      len: SIZE,
      offset: SIZE,
      speed: 0,
      type: 'stream',
    });
    const topNode = (
      (await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[]
    ).find((n) => n['node-name'] === 'top');
    expect(topNode?.['backing_file']).toBeUndefined();
    expect(await client.executeRaw('query-jobs')).toEqual([]);
    expect((await daemon.quit()).code).toBe(0);
    expect(await imageInfo(top)).not.toHaveProperty('backing-filename');
    expect(await readsPattern(top, 0x11, 0, MiB)).toBe(true);
    expect(await readsPattern(top, 0x22, MiB, MiB)).toBe(true);
    expect(await readsPattern(top, 0, 2 * MiB, 2 * MiB)).toBe(true);
    for (const image of [base, mid, top]) expect(await checkImage(image)).toEqual(CLEAN);
  });

  it('refuses bad stream arguments with QEMU errors', async () => {
    const { top } = await makeChain(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await addTop(client, top);
    expect(await errorOf(client.executeRaw('block-stream', { device: 'nope' }))).toEqual({
      class: 'GenericError',
      desc: "Cannot find device='nope' nor node-name='nope'",
    });
    expect(await errorOf(client.executeRaw('block-stream', { device: 'top', 'base-node': 'nope' }))).toEqual({
      class: 'GenericError',
      desc: "Cannot find device='' nor node-name='nope'",
    });
    expect(await errorOf(client.executeRaw('block-stream', { 'job-id': '1x', device: 'top' }))).toEqual({
      class: 'GenericError',
      desc: "Invalid job ID '1x'",
    });
    // The daemon's nodes have no device name, so a job needs an explicit id.
    expect(await errorOf(client.executeRaw('block-stream', { device: 'top' }))).toEqual({
      class: 'GenericError',
      desc: "Invalid job ID ''",
    });
    expect(await client.executeRaw('query-jobs')).toEqual([]);
  });

  it('creates the job before refusing a negative speed, as QEMU does', async () => {
    const { top } = await makeChain(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await addTop(client, top);
    const listener = client.listen();
    expect(
      await errorOf(client.executeRaw('block-stream', { 'job-id': 'neg', device: 'top', speed: -1 })),
    ).toEqual({
      class: 'GenericError',
      desc: "Parameter 'speed' expects a non-negative value",
    });
    // QEMU creates the job before it checks the speed, so the job appears and vanishes.
    expect(listener.drain().map((e) => [e.event, (e.data as JsonObject)['status']])).toEqual([
      ['JOB_STATUS_CHANGE', 'created'],
      ['JOB_STATUS_CHANGE', 'null'],
    ]);
    listener.close();
    expect(await client.executeRaw('query-jobs')).toEqual([]);
  });

  it('pauses, resumes, changes speed and cancels a job; job verbs answer QEMU errors', async () => {
    const { base, mid, top } = await makeChain(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await addTop(client, top);
    const listener = client.listen({
      names: ['JOB_STATUS_CHANGE', 'BLOCK_JOB_CANCELLED', 'BLOCK_JOB_COMPLETED'],
    });
    await client.executeRaw('block-stream', { 'job-id': 'slow', device: 'top', speed: 1 });
    expect(statuses(await eventsUntil(listener, 'running'))).toEqual(['created', 'running']);

    expect(await errorOf(client.executeRaw('block-job-pause', { device: 'nope' }))).toEqual({
      class: 'DeviceNotActive',
      desc: "Block job 'nope' not found",
    });
    expect(await errorOf(client.executeRaw('job-pause', { id: 'nope' }))).toEqual({
      class: 'GenericError',
      desc: 'Job not found',
    });
    expect(await errorOf(client.executeRaw('job-complete', { id: 'slow' }))).toEqual({
      class: 'GenericError',
      desc: "Job 'slow' in state 'running' cannot accept command verb 'complete'",
    });
    expect(await errorOf(client.executeRaw('job-dismiss', { id: 'slow' }))).toEqual({
      class: 'GenericError',
      desc: "Job 'slow' in state 'running' cannot accept command verb 'dismiss'",
    });

    await client.executeRaw('block-job-pause', { device: 'slow' });
    expect(statuses(await eventsUntil(listener, 'paused'))).toEqual(['paused']);
    expect(await errorOf(client.executeRaw('block-job-pause', { device: 'slow' }))).toEqual({
      class: 'GenericError',
      desc: 'Job is already paused',
    });
    const [job] = (await client.executeRaw('query-jobs')) as JsonObject[];
    expect(Object.keys(job ?? {}).sort()).toEqual([
      'current-progress',
      'id',
      'status',
      'total-progress',
      'type',
    ]);
    expect(job).toMatchObject({ id: 'slow', type: 'stream', status: 'paused', 'total-progress': SIZE });
    const [blockJob] = (await client.executeRaw('query-block-jobs')) as JsonObject[];
    expect(Object.keys(blockJob ?? {}).sort()).toEqual(
      [
        'auto-dismiss',
        'auto-finalize',
        'busy',
        'device',
        'io-status',
        'len',
        'offset',
        'paused',
        'ready',
        'speed',
        'status',
        'type',
      ].sort(),
    );
    expect(blockJob).toMatchObject({
      device: 'slow',
      type: 'stream',
      len: SIZE,
      speed: 1,
      paused: true,
      busy: false,
      ready: false,
      status: 'paused',
      'io-status': 'ok',
      'auto-finalize': true,
      'auto-dismiss': true,
    });

    expect(await errorOf(client.executeRaw('block-job-set-speed', { device: 'slow', speed: -5 }))).toEqual({
      class: 'GenericError',
      desc: "Parameter 'speed' expects a non-negative value",
    });
    await client.executeRaw('block-job-set-speed', { device: 'slow', speed: 2 });
    expect(((await client.executeRaw('query-block-jobs')) as JsonObject[])[0]).toMatchObject({ speed: 2 });
    expect(await errorOf(client.executeRaw('block-job-cancel', { device: 'slow' }))).toEqual({
      class: 'GenericError',
      desc: "The block job for device 'slow' is currently paused",
    });
    await client.executeRaw('block-job-resume', { device: 'slow' });
    expect(statuses(await eventsUntil(listener, 'running'))).toEqual(['running']);
    expect(await errorOf(client.executeRaw('block-job-resume', { device: 'slow' }))).toEqual({
      class: 'GenericError',
      desc: "Can't resume a job that was not paused",
    });

    await client.executeRaw('job-cancel', { id: 'slow' });
    const seen = await eventsUntil(listener, 'null');
    expect(statuses(seen)).toEqual(['aborting', 'concluded', 'null']);
    expect(seen.find(([e]) => e === 'BLOCK_JOB_CANCELLED')?.[1]).toMatchObject({
      device: 'slow',
      len: SIZE,
      speed: 2,
      type: 'stream',
    });
    listener.close();
    expect(await client.executeRaw('query-block-jobs')).toEqual([]);
    expect((await daemon.quit()).code).toBe(0);
    // A cancelled stream keeps the chain: the data still reads through the backing files.
    expect(await readsPattern(top, 0x11, 0, MiB)).toBe(true);
    expect(await readsPattern(top, 0x22, MiB, MiB)).toBe(true);
    for (const image of [base, mid, top]) expect(await checkImage(image)).toEqual(CLEAN);
  });

  for (const ending of ['quit', 'SIGTERM'] as const) {
    it(`cancels a running job and leaves clean images on ${ending}`, async () => {
      const { base, mid, top } = await makeChain(dir);
      daemon = await startDaemon(kind, dir);
      const { client } = daemon;
      await addTop(client, top);
      const listener = client.listen({ names: ['JOB_STATUS_CHANGE'] });
      await client.executeRaw('block-stream', { 'job-id': 'busy', device: 'top', speed: 1 });
      expect(statuses(await eventsUntil(listener, 'running'))).toEqual(['created', 'running']);
      // A second job, paused by the user, must not hold the shutdown up either.
      const [from, to] = [join(dir, 'from.qcow2'), join(dir, 'to.qcow2')];
      for (const [name, file] of [
        ['from', from],
        ['to', to],
      ] as const) {
        await createImage(file, String(SIZE));
        await client.executeRaw('blockdev-add', {
          driver: 'qcow2',
          'node-name': name,
          file: { driver: 'file', filename: file },
        });
      }
      await client.executeRaw('blockdev-backup', {
        'job-id': 'held',
        device: 'from',
        target: 'to',
        sync: 'full',
        speed: 65536,
      });
      await client.executeRaw('job-pause', { id: 'held' });
      listener.close();
      const ended = ending === 'quit' ? await daemon.quit() : await daemon.kill('SIGTERM');
      expect(ended.code).toBe(0);
      expect(ended.stderr).toBe('');
      expect(await readsPattern(top, 0x11, 0, MiB)).toBe(true);
      expect(await readsPattern(top, 0x22, MiB, MiB)).toBe(true);
      for (const image of [base, mid, top, from, to]) expect(await checkImage(image)).toEqual(CLEAN);
    });
  }

  it('waits in pending for a manual finalize and in concluded for a manual dismiss', async () => {
    const { base, mid, top } = await makeChain(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await addTop(client, top);
    const listener = client.listen();
    await client.executeRaw('block-stream', {
      'job-id': 'manual',
      device: 'top',
      'auto-finalize': false,
      'auto-dismiss': false,
    });
    const first = await eventsUntil(listener, 'pending');
    expect(statuses(first)).toEqual(['created', 'running', 'waiting', 'pending']);
    expect(first.at(-1)?.[0]).toBe('JOB_STATUS_CHANGE');
    const pendingEvent = await listener.next((e) => e.event === 'BLOCK_JOB_PENDING', 60_000);
    expect(pendingEvent.data).toEqual({ type: 'stream', id: 'manual' });
    expect(await client.executeRaw('query-jobs')).toEqual([
      { 'current-progress': SIZE, status: 'pending', 'total-progress': SIZE, type: 'stream', id: 'manual' },
    ]);
    expect(await errorOf(client.executeRaw('job-dismiss', { id: 'manual' }))).toEqual({
      class: 'GenericError',
      desc: "Job 'manual' in state 'pending' cannot accept command verb 'dismiss'",
    });
    await client.executeRaw('job-finalize', { id: 'manual' });
    const second = await eventsUntil(listener, 'concluded');
    expect(second.map(([e]) => e)).toEqual(['BLOCK_JOB_COMPLETED', 'JOB_STATUS_CHANGE']);
    expect(await errorOf(client.executeRaw('job-finalize', { id: 'manual' }))).toEqual({
      class: 'GenericError',
      desc: "Job 'manual' in state 'concluded' cannot accept command verb 'finalize'",
    });
    await client.executeRaw('block-job-dismiss', { id: 'manual' });
    expect(statuses(await eventsUntil(listener, 'null'))).toEqual(['null']);
    listener.close();
    expect(await client.executeRaw('query-jobs')).toEqual([]);
    expect((await daemon.quit()).code).toBe(0);
    for (const image of [base, mid, top]) expect(await checkImage(image)).toEqual(CLEAN);
  });
});
