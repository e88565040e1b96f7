import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { listenQmp, parseOptionArgument, QmpClient, QmpError, QmpServer } from './index.js';

// The README example, run as written (with a temp socket path) so the documentation stays true.
it('README example', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'strata-qmp-readme-'));
  try {
    const server = new QmpServer();
    server.register('query-jobs', () => []);
    server.register('job-dismiss', (args) => {
      throw new QmpError('GenericError', `Job '${args.id}' not found`);
    });
    const listener = await listenQmp(server, { path: join(dir, 'qmp.sock') });

    const client = await QmpClient.connect({ path: join(dir, 'qmp.sock') });
    expect(await client.execute('query-jobs')).toEqual([]);
    const error = await client.execute('job-dismiss', { id: 'nope' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpError);
    expect([(error as QmpError).class, (error as QmpError).desc]).toEqual([
      'GenericError',
      "Job 'nope' not found",
    ]);
    const events = client.listen({ names: ['JOB_STATUS_CHANGE'] });
    server.emitEvent('JOB_STATUS_CHANGE', { id: 'job0', status: 'created' });
    expect((await events.next()).data).toEqual({ id: 'job0', status: 'created' });
    events.close();
    await client.close();
    await new Promise((resolve) => listener.close(resolve));

    expect(
      parseOptionArgument('driver=null-co,node-name=n0,size=1048576,read-zeroes=on', 'BlockdevOptions'),
    ).toEqual({
      driver: 'null-co',
      'node-name': 'n0',
      size: 1048576,
      'read-zeroes': true,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
