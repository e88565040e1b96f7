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
  tool,
  writePattern,
} from './test-support/daemons.js';
import { errorOf } from './test-support/qmp-error.js';

const MiB = 1024 * 1024;
const SIZE = 4 * MiB;
const CLEAN = { errors: 0, leaks: 0, corruptions: 0 };

type Seen = [string, unknown][];

async function eventsUntil(
  listener: QmpEventListener,
  done: (event: string, data: JsonObject) => boolean,
): Promise<Seen> {
  const seen: Seen = [];
  for (;;) {
    const event = await listener.next(undefined, 60_000);
    const data = event.data as JsonObject;
    seen.push([event.event, event.event === 'JOB_STATUS_CHANGE' ? data['status'] : data]);
    if (done(event.event, data)) return seen;
  }
}
const untilStatus = (status: string) => (event: string, data: JsonObject) =>
  event === 'JOB_STATUS_CHANGE' && data['status'] === status;
const statuses = (seen: Seen) => seen.filter(([e]) => e === 'JOB_STATUS_CHANGE').map(([, s]) => s);
const eventData = (seen: Seen, name: string) => seen.find(([e]) => e === name)?.[1];

async function nodeNameOf(client: QmpClient, file: string): Promise<string> {
  const nodes = (await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[];
  const node = nodes.find((n) => n['drv'] === 'qcow2' && n['file'] === file);
  if (!node) throw new Error(`no qcow2 node for ${file}`);
  return String(node['node-name']);
}

async function add(client: QmpClient, name: string, file: string, extra: JsonObject = {}): Promise<void> {
  await client.executeRaw('blockdev-add', {
    driver: 'qcow2',
    'node-name': name,
    file: { driver: 'file', filename: file },
    ...extra,
  });
}

/** base (0x11 at 0-1 MiB) ← mid (0x22 at 1-2 MiB) ← top (0x33 at 2-3 MiB). */
async function makeChain(dir: string): Promise<{ base: string; mid: string; top: string }> {
  const base = join(dir, 'base.qcow2');
  const mid = join(dir, 'mid.qcow2');
  const top = join(dir, 'top.qcow2');
  await createImage(base, String(SIZE));
  await writePattern(base, 0x11, 0, MiB);
  await createImage(mid, String(SIZE), base);
  await writePattern(mid, 0x22, MiB, MiB);
  await createImage(top, String(SIZE), mid);
  await writePattern(top, 0x33, 2 * MiB, MiB);
  return { base, mid, top };
}

async function allClean(images: readonly string[]): Promise<void> {
  for (const image of images) expect(await checkImage(image), image).toEqual(CLEAN);
}

describe.each(DAEMONS)('%s: commit, mirror and backup', (kind) => {
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

  it('commits an intermediate layer with manual finalize and dismiss', async () => {
    const { base, mid, top } = await makeChain(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await add(client, 'top', top);
    const listener = client.listen();
    await client.executeRaw('block-commit', {
      'job-id': 'c1',
      device: 'top',
      'top-node': await nodeNameOf(client, mid),
      'base-node': await nodeNameOf(client, base),
      'auto-finalize': false,
      'auto-dismiss': false,
    });
    const first = await eventsUntil(listener, (e) => e === 'BLOCK_JOB_PENDING');
    expect(statuses(first)).toEqual(['created', 'running', 'waiting', 'pending']);
    expect(eventData(first, 'BLOCK_JOB_PENDING')).toEqual({ type: 'commit', id: 'c1' });
    await client.executeRaw('job-finalize', { id: 'c1' });
    const second = await eventsUntil(listener, untilStatus('concluded'));
    expect(eventData(second, 'BLOCK_JOB_COMPLETED')).toEqual({
      device: 'c1',
      len: SIZE,
      offset: SIZE,
      speed: 0,
      type: 'commit',
    });
    await client.executeRaw('job-dismiss', { id: 'c1' });
    expect(statuses(await eventsUntil(listener, untilStatus('null')))).toEqual(['null']);
    listener.close();
    const topNode = (
      (await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[]
    ).find((n) => n['node-name'] === 'top');
    expect(topNode?.['backing_file']).toBe(base);
    expect((await daemon.quit()).code).toBe(0);
    expect(await imageInfo(top)).toMatchObject({ 'backing-filename': base });
    expect(await readsPattern(base, 0x22, MiB, MiB)).toBe(true);
    expect(await readsPattern(top, 0x11, 0, MiB)).toBe(true);
    expect(await readsPattern(top, 0x22, MiB, MiB)).toBe(true);
    expect(await readsPattern(top, 0x33, 2 * MiB, MiB)).toBe(true);
    await allClean([base, mid, top]);
  });

  it('commits the active layer: READY, then complete pivots onto the base', async () => {
    const { base, mid, top } = await makeChain(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await add(client, 'top', top);
    const listener = client.listen();
    await client.executeRaw('block-commit', {
      'job-id': 'c2',
      device: 'top',
      'base-node': await nodeNameOf(client, base),
    });
    const ready = await eventsUntil(listener, (e) => e === 'BLOCK_JOB_READY');
    expect(statuses(ready)).toEqual(['created', 'running', 'ready']);
    const readyData = eventData(ready, 'BLOCK_JOB_READY') as JsonObject;
    expect(readyData).toMatchObject({ device: 'c2', speed: 0, type: 'commit' });
    expect(readyData['offset']).toBe(readyData['len']);
    const [job] = (await client.executeRaw('query-block-jobs')) as JsonObject[];
    expect(job).toMatchObject({ device: 'c2', type: 'commit', ready: true, status: 'ready' });
    await client.executeRaw('block-job-complete', { device: 'c2' });
    const done = await eventsUntil(listener, untilStatus('null'));
    listener.close();
    expect(statuses(done)).toEqual(['waiting', 'pending', 'concluded', 'null']);
    expect(eventData(done, 'BLOCK_JOB_COMPLETED')).toMatchObject({ device: 'c2', type: 'commit' });
    expect((await daemon.quit()).code).toBe(0);
    expect(await readsPattern(base, 0x11, 0, MiB)).toBe(true);
    expect(await readsPattern(base, 0x22, MiB, MiB)).toBe(true);
    expect(await readsPattern(base, 0x33, 2 * MiB, MiB)).toBe(true);
    await allClean([base, mid, top]);
  });

  it('cancels an active commit after READY: top stays active, base keeps what was committed', async () => {
    const { base, mid, top } = await makeChain(dir);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await add(client, 'top', top);
    const listener = client.listen();
    await client.executeRaw('block-commit', {
      'job-id': 'c3',
      device: 'top',
      'base-node': await nodeNameOf(client, base),
    });
    await eventsUntil(listener, (e) => e === 'BLOCK_JOB_READY');
    await client.executeRaw('block-job-cancel', { device: 'c3' });
    const done = await eventsUntil(listener, untilStatus('null'));
    listener.close();
    expect(statuses(done)).toEqual(['waiting', 'pending', 'concluded', 'null']);
    expect(eventData(done, 'BLOCK_JOB_COMPLETED')).toMatchObject({ device: 'c3', type: 'commit' });
    const nodes = ((await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[]).map(
      (n) => n['node-name'],
    );
    expect(nodes).toContain('top');
    expect((await daemon.quit()).code).toBe(0);
    expect(await imageInfo(top)).toMatchObject({ 'backing-filename': mid });
    expect(await readsPattern(base, 0x33, 2 * MiB, MiB)).toBe(true);
    await allClean([base, mid, top]);
  });

  for (const sync of ['full', 'top', 'none'] as const) {
    it(`mirrors with sync=${sync}: READY, then complete`, async () => {
      const { base, mid, top } = await makeChain(dir);
      const target = join(dir, 'target.qcow2');
      await createImage(target, String(SIZE));
      daemon = await startDaemon(kind, dir);
      const { client } = daemon;
      await add(client, 'top', top);
      await add(client, 'tgt', target, { backing: null });
      const listener = client.listen();
      await client.executeRaw('blockdev-mirror', { 'job-id': 'm1', device: 'top', target: 'tgt', sync });
      const ready = await eventsUntil(listener, (e) => e === 'BLOCK_JOB_READY');
      expect(statuses(ready)).toEqual(['created', 'running', 'ready']);
      expect(eventData(ready, 'BLOCK_JOB_READY')).toMatchObject({ device: 'm1', type: 'mirror', speed: 0 });
      await client.executeRaw('job-complete', { id: 'm1' });
      const done = await eventsUntil(listener, untilStatus('null'));
      listener.close();
      expect(statuses(done)).toEqual(['waiting', 'pending', 'concluded', 'null']);
      expect(eventData(done, 'BLOCK_JOB_COMPLETED')).toMatchObject({ device: 'm1', type: 'mirror' });
      expect((await daemon.quit()).code).toBe(0);
      // full copies the whole chain, top only the top layer, none only writes made during the job.
      expect(await readsPattern(target, 0x11, 0, MiB)).toBe(sync === 'full');
      expect(await readsPattern(target, 0x33, 2 * MiB, MiB)).toBe(sync !== 'none');
      await allClean([base, mid, top, target]);
    });
  }

  for (const force of [false, true]) {
    it(`cancels a mirror after READY (force=${force})`, async () => {
      const { base, mid, top } = await makeChain(dir);
      const target = join(dir, 'target.qcow2');
      await createImage(target, String(SIZE));
      daemon = await startDaemon(kind, dir);
      const { client } = daemon;
      await add(client, 'top', top);
      await add(client, 'tgt', target, { backing: null });
      const listener = client.listen();
      await client.executeRaw('blockdev-mirror', {
        'job-id': 'm2',
        device: 'top',
        target: 'tgt',
        sync: 'full',
      });
      await eventsUntil(listener, (e) => e === 'BLOCK_JOB_READY');
      await client.executeRaw('block-job-cancel', { device: 'm2', force });
      const done = await eventsUntil(listener, untilStatus('null'));
      listener.close();
      expect(statuses(done)).toEqual(
        force ? ['aborting', 'concluded', 'null'] : ['waiting', 'pending', 'concluded', 'null'],
      );
      expect(done.map(([e]) => e)).toContain(force ? 'BLOCK_JOB_CANCELLED' : 'BLOCK_JOB_COMPLETED');
      expect((await daemon.quit()).code).toBe(0);
      expect(await readsPattern(target, 0x22, MiB, MiB)).toBe(true);
      await allClean([base, mid, top, target]);
    });
  }

  it('shows the mirror filter while ready, refuses a second mirror, and pauses into standby', async () => {
    const { base, mid, top } = await makeChain(dir);
    const target = join(dir, 'target.qcow2');
    await createImage(target, String(SIZE));
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await add(client, 'top', top);
    await add(client, 'tgt', target, { backing: null });
    const listener = client.listen();
    await client.executeRaw('blockdev-mirror', {
      'job-id': 'm4',
      device: 'top',
      target: 'tgt',
      sync: 'full',
    });
    await eventsUntil(listener, (e) => e === 'BLOCK_JOB_READY');
    const nodes = (await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[];
    const filter = nodes.find((n) => n['drv'] === 'mirror_top');
    expect(filter).toBeDefined();
    expect(String(filter?.['node-name'])).toMatch(/^#block\d+$/);
    expect(nodes.map((n) => n['drv']).sort()).toEqual(
      ['file', 'file', 'file', 'file', 'mirror_top', 'qcow2', 'qcow2', 'qcow2', 'qcow2'].sort(),
    );
    expect(
      await errorOf(
        client.executeRaw('blockdev-mirror', { 'job-id': 'm5', device: 'top', target: 'tgt', sync: 'full' }),
      ),
    ).toEqual({ class: 'GenericError', desc: 'Need a root block node' });
    await client.executeRaw('job-pause', { id: 'm4' });
    expect(statuses(await eventsUntil(listener, untilStatus('standby')))).toEqual(['standby']);
    expect(((await client.executeRaw('query-block-jobs')) as JsonObject[])[0]).toMatchObject({
      device: 'm4',
      status: 'standby',
      paused: true,
      ready: true,
    });
    await client.executeRaw('job-resume', { id: 'm4' });
    expect(statuses(await eventsUntil(listener, untilStatus('ready')))).toEqual(['ready']);
    await client.executeRaw('job-complete', { id: 'm4' });
    await eventsUntil(listener, untilStatus('null'));
    listener.close();
    expect(
      ((await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[]).some(
        (n) => n['drv'] === 'mirror_top',
      ),
    ).toBe(false);
    expect((await daemon.quit()).code).toBe(0);
    await allClean([base, mid, top, target]);
  });

  it('backs up in full, then incrementally from a persistent bitmap', async () => {
    const image = join(dir, 'disk.qcow2');
    const full = join(dir, 'full.qcow2');
    const incremental = join(dir, 'inc.qcow2');
    await createImage(image, String(SIZE));
    await writePattern(image, 0x44, 0, 2 * MiB);
    await tool('qemu-img', ['bitmap', '--add', image, 'b0']);
    await writePattern(image, 0x55, 3 * MiB, MiB);
    await createImage(full, String(SIZE));
    await createImage(incremental, String(SIZE));
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await add(client, 'disk', image);
    await add(client, 'full', full, { backing: null });
    await add(client, 'inc', incremental, { backing: null });
    const listener = client.listen();
    await client.executeRaw('blockdev-backup', {
      'job-id': 'b1',
      device: 'disk',
      target: 'full',
      sync: 'full',
    });
    const first = await eventsUntil(listener, untilStatus('null'));
    // QEMU drains the source while inserting the backup filter, so the job pauses once at start.
    expect(statuses(first)).toEqual([
      'created',
      'running',
      'paused',
      'running',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(eventData(first, 'BLOCK_JOB_COMPLETED')).toEqual({
      device: 'b1',
      len: SIZE,
      offset: SIZE,
      speed: 0,
      type: 'backup',
    });
    await client.executeRaw('blockdev-backup', {
      'job-id': 'b2',
      device: 'disk',
      target: 'inc',
      sync: 'incremental',
      bitmap: 'b0',
    });
    const second = await eventsUntil(listener, untilStatus('null'));
    listener.close();
    expect(eventData(second, 'BLOCK_JOB_COMPLETED')).toMatchObject({
      device: 'b2',
      type: 'backup',
      len: MiB,
      offset: MiB,
    });
    const disk = ((await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[]).find(
      (n) => n['node-name'] === 'disk',
    );
    expect(disk?.['dirty-bitmaps']).toEqual([
      { name: 'b0', recording: true, persistent: true, busy: false, granularity: 65536, count: 0 },
    ]);
    expect((await daemon.quit()).code).toBe(0);
    expect(await readsPattern(full, 0x44, 0, 2 * MiB)).toBe(true);
    expect(await readsPattern(full, 0x55, 3 * MiB, MiB)).toBe(true);
    expect(await readsPattern(incremental, 0x55, 3 * MiB, MiB)).toBe(true);
    expect(await readsPattern(incremental, 0, 0, 3 * MiB)).toBe(true);
    await allClean([image, full, incremental]);
  });
  it('drive-mirror creates its target by file name and pivots onto it; drive-backup copies to a new file', async () => {
    const { base, mid, top } = await makeChain(dir);
    const mirrored = join(dir, 'mirrored.qcow2');
    const backup = join(dir, 'backup.qcow2');
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await add(client, 'top', top);
    const listener = client.listen();
    await client.executeRaw('drive-mirror', {
      'job-id': 'dm',
      device: 'top',
      target: mirrored,
      sync: 'top',
      format: 'qcow2',
    });
    const ready = await eventsUntil(listener, (e) => e === 'BLOCK_JOB_READY');
    expect(statuses(ready)).toEqual(['created', 'running', 'ready']);
    expect(eventData(ready, 'BLOCK_JOB_READY')).toEqual({
      device: 'dm',
      len: MiB,
      offset: MiB,
      speed: 0,
      type: 'mirror',
    });
    await client.executeRaw('job-complete', { id: 'dm' });
    const done = await eventsUntil(listener, untilStatus('null'));
    expect(statuses(done)).toEqual(['waiting', 'pending', 'concluded', 'null']);
    expect(eventData(done, 'BLOCK_JOB_COMPLETED')).toMatchObject({ device: 'dm', type: 'mirror' });

    await client.executeRaw('drive-backup', {
      'job-id': 'db',
      device: 'top',
      target: backup,
      sync: 'full',
      format: 'qcow2',
    });
    const backedUp = await eventsUntil(listener, untilStatus('null'));
    expect(eventData(backedUp, 'BLOCK_JOB_COMPLETED')).toEqual({
      device: 'db',
      len: SIZE,
      offset: SIZE,
      speed: 0,
      type: 'backup',
    });
    await daemon.quit();

    // sync=top: the new image holds only top's data and names top's backing as its own.
    await expect(imageInfo(mirrored)).resolves.toMatchObject({
      'backing-filename': mid,
      'backing-filename-format': 'qcow2',
    });
    expect(await readsPattern(mirrored, 0x33, 2 * MiB, MiB)).toBe(true);
    expect(await readsPattern(mirrored, 0x22, MiB, MiB)).toBe(true);
    expect(await readsPattern(mirrored, 0x11, 0, MiB)).toBe(true);
    // The full backup is a standalone copy of the whole chain.
    const info = await imageInfo(backup);
    expect(info['backing-filename']).toBeUndefined();
    expect(await readsPattern(backup, 0x11, 0, MiB)).toBe(true);
    expect(await readsPattern(backup, 0x22, MiB, MiB)).toBe(true);
    expect(await readsPattern(backup, 0x33, 2 * MiB, MiB)).toBe(true);
    expect(await readsPattern(backup, 0, 3 * MiB, MiB)).toBe(true);
    await allClean([base, mid, top, mirrored, backup]);
  });
});
