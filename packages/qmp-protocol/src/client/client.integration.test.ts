import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpError, QmpTimeoutError } from '../errors.js';
import type { JsonObject } from '../json/json-value.js';
import { type RunningDaemon, startStorageDaemon } from '../test-support/storage-daemon.js';
import { QmpClient } from './client.js';
import { runJob } from './job-runner.js';

let daemon: RunningDaemon;
let client: QmpClient;

beforeAll(async () => {
  daemon = await startStorageDaemon();
  client = await QmpClient.connect({ path: daemon.socketPath });
});

afterAll(async () => {
  await client?.close();
  await daemon?.stop();
});

describe('QmpClient against the real qemu-storage-daemon', () => {
  it('negotiated and reads the version the greeting announced', async () => {
    const version = await client.execute('query-version');
    expect(version).toEqual(client.greeting.version);
    expect(version.qemu.major).toBe(7);
    expect(client.greeting.capabilities).toEqual(['oob']);
  });

  it('lists the commands the schema declares', async () => {
    const commands = await client.execute('query-commands');
    const names = commands.map((c) => c.name);
    expect(names).toContain('blockdev-add');
    expect(names).toContain('qmp_capabilities');
    expect(names).toHaveLength(74);
  });

  it('adds a null-co node and finds it in query-named-block-nodes', async () => {
    await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'null0', size: 1048576 });
    const nodes = await client.execute('query-named-block-nodes');
    const node = nodes.find((n) => n['node-name'] === 'null0');
    expect(node?.drv).toBe('null-co');
    expect(node?.image['virtual-size']).toBe(1048576);
    const duplicate = await client
      .execute('blockdev-add', { driver: 'null-co', 'node-name': 'null0' })
      .catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(QmpError);
    expect((duplicate as QmpError).class).toBe('GenericError');
    expect((duplicate as QmpError).desc).toMatch(/null0/);
  });

  it('runs blockdev-create as a job and follows its JOB_STATUS_CHANGE events', async () => {
    const filename = join(daemon.dir, 'created.img');
    const result = await runJob(client, {
      jobId: 'create0',
      start: () =>
        client.execute('blockdev-create', {
          'job-id': 'create0',
          options: { driver: 'file', filename, size: 1048576 },
        }),
      timeoutMs: 20_000,
    });
    expect(result.statuses).toEqual(['created', 'running', 'waiting', 'pending', 'concluded']);
    expect(result.error).toBeUndefined();
    expect(existsSync(filename)).toBe(true);
  });

  it('reports a failing job through runJob', async () => {
    const listener = client.listen({ names: ['JOB_STATUS_CHANGE'] });
    const result = await runJob(client, {
      jobId: 'create1',
      start: () =>
        client.execute('blockdev-create', {
          'job-id': 'create1',
          options: { driver: 'file', filename: join(daemon.dir, 'no-such-dir', 'x.img'), size: 1048576 },
        }),
      timeoutMs: 20_000,
    });
    expect(result.statuses).toContain('aborting');
    expect(result.statuses[result.statuses.length - 1]).toBe('concluded');
    // Auto-dismiss is on: the job leaves by itself, so the error comes from the events only.
    const seen = listener.drain().map((e) => (e.data as JsonObject)['status']);
    expect(seen).toEqual(expect.arrayContaining(['created', 'running', 'aborting', 'concluded']));
    listener.close();
  });

  it('waitFor times out with QmpTimeoutError when no event comes', async () => {
    await expect(client.waitFor('BLOCK_JOB_READY', undefined, 100)).rejects.toBeInstanceOf(QmpTimeoutError);
  });

  it('rejects unknown commands with CommandNotFound', async () => {
    const error = await client.executeRaw('no-such-command').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpError);
    expect((error as QmpError).class).toBe('CommandNotFound');
    expect((error as QmpError).desc).toBe('The command no-such-command has not been found');
  });
});
