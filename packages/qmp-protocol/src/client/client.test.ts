import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpConnectionError, QmpError, QmpTimeoutError } from '../errors.js';
import type { JsonObject } from '../json/json-value.js';
import { listenQmp } from '../server/net-transport.js';
import { QmpServer } from '../server/server.js';
import { QmpClient } from './client.js';
import { forJob } from './event-listener.js';
import { runJob } from './job-runner.js';

let dir: string;
let server: QmpServer;
let listener: Server;
let socketPath: string;
const jobs = new Map<string, JsonObject>();

/** A fake job that walks QEMU's states on timers, announcing each with JOB_STATUS_CHANGE. */
function startFakeJob(id: string, fail: boolean): void {
  const setStatus = (status: string): void => {
    jobs.set(id, {
      id,
      type: 'create',
      status,
      'current-progress': 1,
      'total-progress': 1,
      ...(fail && status === 'concluded' ? { error: 'disk on fire' } : {}),
    });
    server.emitEvent('JOB_STATUS_CHANGE', { status, id });
  };
  setStatus('created');
  setStatus('running');
  const later = fail ? ['aborting', 'concluded'] : ['waiting', 'pending', 'concluded'];
  for (const [i, status] of later.entries()) setTimeout(() => setStatus(status), 5 * (i + 1));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-qmp-client-'));
  socketPath = join(dir, 'qmp.sock');
  server = new QmpServer();
  server.register('query-jobs', () => [...jobs.values()]);
  server.register('job-dismiss', (args) => {
    const id = String(args['id']);
    if (!jobs.delete(id)) throw new QmpError('GenericError', 'Job not found');
    server.emitEvent('JOB_STATUS_CHANGE', { status: 'null', id });
    return {};
  });
  server.register('blockdev-create', (args) => {
    // Typed by the schema: `options` is narrowed by its `driver`.
    startFakeJob(args['job-id'], args.options.driver === 'file' && args.options.filename === 'bad');
    return {};
  });
  server.register('job-pause', (args) => {
    server.emitEvent('JOB_STATUS_CHANGE', { status: 'paused', id: args['id']! });
    server.emitEvent('JOB_STATUS_CHANGE', { status: 'running', id: args['id']! });
    return {};
  });
  // Never answers: lets a test close the connection while a request is pending.
  server.register('job-finalize', () => new Promise(() => {}));
  listener = await listenQmp(server, { path: socketPath });
});

afterAll(async () => {
  await new Promise((resolve) => listener.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('QmpClient against an in-process QmpServer', () => {
  it('reads the greeting, negotiates and runs typed commands', async () => {
    const client = await QmpClient.connect({ path: socketPath });
    expect(client.greeting.capabilities).toEqual(['oob']);
    const version = await client.execute('query-version');
    expect(version.qemu.major).toBe(7);
    expect(await client.execute('query-jobs')).toEqual([]);
    await client.close();
  });

  it('rejects with QmpError carrying class and desc', async () => {
    const client = await QmpClient.connect({ path: socketPath });
    const failure = await client.execute('job-dismiss', { id: 'nope' }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(QmpError);
    expect((failure as QmpError).class).toBe('GenericError');
    expect((failure as QmpError).desc).toBe('Job not found');
    const missing = await client.executeRaw('blockdev-mirror', {}).catch((e: unknown) => e);
    expect((missing as QmpError).errorClass).toBe('CommandNotFound');
    await client.close();
  });

  it('delivers events interleaved with replies to every listener, filtered', async () => {
    const client = await QmpClient.connect({ path: socketPath });
    const all = client.listen();
    const pausedOnly = client.listen({
      names: ['JOB_STATUS_CHANGE'],
      predicate: (e) => (e.data as JsonObject)['status'] === 'paused',
    });
    await client.execute('job-pause', { id: 'j1' });
    await client.execute('job-pause', { id: 'j2' });
    expect(
      all.drain().map((e) => `${(e.data as JsonObject)['id']}:${(e.data as JsonObject)['status']}`),
    ).toEqual(['j1:paused', 'j1:running', 'j2:paused', 'j2:running']);
    expect(pausedOnly.drain().map((e) => (e.data as JsonObject)['id'])).toEqual(['j1', 'j2']);
    all.close();
    pausedOnly.close();
    await client.close();
  });

  it('forJob matches job events by id and block-job events by device', async () => {
    const client = await QmpClient.connect({ path: socketPath });
    const listener = client.listen({ predicate: forJob('j9') });
    server.emitEvent('BLOCK_JOB_READY', { type: 'mirror', device: 'j9', len: 1, offset: 1, speed: 0 });
    server.emitEvent('JOB_STATUS_CHANGE', { status: 'ready', id: 'other' });
    server.emitEvent('JOB_STATUS_CHANGE', { status: 'ready', id: 'j9' });
    await client.execute('query-jobs');
    expect(listener.drain().map((e) => e.event)).toEqual(['BLOCK_JOB_READY', 'JOB_STATUS_CHANGE']);
    listener.close();
    await client.close();
  });

  it('waitFor resolves on a matching event and times out with QmpTimeoutError', async () => {
    const client = await QmpClient.connect({ path: socketPath });
    const waiting = client.waitFor(
      'JOB_STATUS_CHANGE',
      (e) => (e.data as JsonObject)['status'] === 'running',
      5000,
    );
    await client.execute('job-pause', { id: 'w' });
    const event = await waiting;
    expect(event.data).toEqual({ status: 'running', id: 'w' });
    expect(event.timestamp.seconds).toBeGreaterThan(0);
    await expect(client.waitFor('BLOCK_JOB_READY', undefined, 30)).rejects.toBeInstanceOf(QmpTimeoutError);
    await client.close();
  });

  it('iterates events asynchronously until the listener closes', async () => {
    const client = await QmpClient.connect({ path: socketPath });
    const listener = client.listen({ names: ['JOB_STATUS_CHANGE'] });
    await client.execute('job-pause', { id: 'it' });
    const seen: string[] = [];
    for await (const event of listener) {
      seen.push(String((event.data as JsonObject)['status']));
      if (seen.length === 2) listener.close();
    }
    expect(seen).toEqual(['paused', 'running']);
    await client.close();
  });

  it('runJob follows JOB_STATUS_CHANGE to conclusion, dismisses, and reports job errors', async () => {
    const client = await QmpClient.connect({ path: socketPath });
    const ok = await runJob(client, {
      jobId: 'create0',
      start: () =>
        client.execute('blockdev-create', {
          'job-id': 'create0',
          options: { driver: 'file', filename: 'x', size: 0 },
        }),
      timeoutMs: 5000,
    });
    expect(ok).toEqual({ statuses: ['created', 'running', 'waiting', 'pending', 'concluded'] });
    expect(await client.execute('query-jobs')).toEqual([]);
    const failed = await runJob(client, {
      jobId: 'create1',
      start: () =>
        client.execute('blockdev-create', {
          'job-id': 'create1',
          options: { driver: 'file', filename: 'bad', size: 0 },
        }),
      timeoutMs: 5000,
    });
    expect(failed).toEqual({
      statuses: ['created', 'running', 'aborting', 'concluded'],
      error: 'disk on fire',
    });
    await client.close();
  });

  it('gives up on a reply after commandTimeoutMs', async () => {
    const client = await QmpClient.connect({ path: socketPath }, { commandTimeoutMs: 50 });
    await expect(client.execute('job-finalize', { id: 'slow' })).rejects.toBeInstanceOf(QmpTimeoutError);
    // The server still runs that command, and runs commands one at a time: the next one waits too.
    await expect(client.execute('query-jobs')).rejects.toBeInstanceOf(QmpTimeoutError);
    await client.close();
  });

  it('rejects pending requests with QmpConnectionError when the connection closes', async () => {
    const client = await QmpClient.connect({ path: socketPath });
    const listener = client.listen();
    const pending = client.execute('job-finalize', { id: 'x' });
    const waiting = listener.next();
    // The server hangs up while the request is in flight.
    server.closeAll();
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpConnectionError);
    expect((error as Error).message).toContain("'job-finalize'");
    await expect(waiting).rejects.toBeInstanceOf(QmpConnectionError);
    await expect(client.execute('query-jobs')).rejects.toBeInstanceOf(QmpConnectionError);
    expect(client.closed).toBe(true);
    await client.close();
  });

  it('connects over TCP as well', async () => {
    const tcp = await listenQmp(server, { host: '127.0.0.1', port: 0 });
    try {
      const address = tcp.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      const client = await QmpClient.connect({ host: '127.0.0.1', port: address.port });
      expect(await client.execute('query-jobs')).toEqual([]);
      await client.close();
    } finally {
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it('fails to connect with a clear error when nobody listens', async () => {
    await expect(QmpClient.connect({ path: join(dir, 'nobody.sock') })).rejects.toThrow(/cannot connect/);
  });
});
