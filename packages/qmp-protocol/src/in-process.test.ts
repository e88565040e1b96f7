import { expect, it } from 'vitest';
import { QmpConnectionError, QmpError } from './errors.js';
import { connectInProcess } from './in-process.js';
import { QmpServer } from './server/server.js';

it('connectInProcess speaks the whole protocol over an in-memory stream', async () => {
  const server = new QmpServer();
  server.register('query-jobs', () => []);
  const client = await connectInProcess(server);
  expect(client.greeting.capabilities).toEqual(['oob']);
  expect(server.sessionCount).toBe(1);
  expect(await client.execute('query-jobs')).toEqual([]);
  await expect(client.execute('job-cancel', { id: 'x' })).rejects.toBeInstanceOf(QmpError);
  const pending = client.executeRaw('query-jobs');
  server.closeAll();
  // The reply to a request already sent may or may not arrive before the hang-up.
  await pending.catch((e: unknown) => expect(e).toBeInstanceOf(QmpConnectionError));
  await expect(client.execute('query-jobs')).rejects.toBeInstanceOf(QmpConnectionError);
  await client.close();
  expect(server.sessionCount).toBe(0);
});
