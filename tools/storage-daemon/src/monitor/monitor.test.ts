import { BlockError, BlockGraph } from '@strata/block-layer';
import { connectInProcess, isQmpError, QmpError, RECORDED_QUERY_COMMANDS } from '@strata/qmp-protocol';
import { describe, expect, it } from 'vitest';
import { createMonitor } from './monitor.js';
import { toQmpError } from './qmp-errors.js';

async function errorOf(call: Promise<unknown>): Promise<{ class: string; desc: string }> {
  try {
    await call;
  } catch (error) {
    if (isQmpError(error)) return { class: error.class, desc: error.desc };
    throw error;
  }
  throw new Error('the command succeeded');
}

const realCommands = (RECORDED_QUERY_COMMANDS['return'] as { name: string }[]).map((c) => c.name);

describe('createMonitor', () => {
  it('offers only commands the real daemon has, and answers CommandNotFound for the rest', async () => {
    const monitor = createMonitor(new BlockGraph());
    const client = await connectInProcess(monitor.server);
    const offered = ((await client.executeRaw('query-commands')) as { name: string }[]).map((c) => c.name);
    for (const name of offered) expect(realCommands).toContain(name);
    expect(offered).toEqual(
      expect.arrayContaining([
        'blockdev-add',
        'blockdev-del',
        'blockdev-snapshot',
        'transaction',
        'block-stream',
        'query-named-block-nodes',
        'query-jobs',
        'query-block-jobs',
        'block-dirty-bitmap-add',
        'block-dirty-bitmap-merge',
        'job-finalize',
        'block-job-set-speed',
        'quit',
      ]),
    );
    const unsupported = realCommands.find((name) => !offered.includes(name));
    expect(unsupported).toBeDefined();
    expect(await errorOf(client.executeRaw(unsupported!))).toEqual({
      class: 'CommandNotFound',
      desc: `The command ${unsupported} has not been found`,
    });
    await client.close();
    await monitor.shutdown();
  });

  it('drives an in-memory graph and forwards job events to the session', async () => {
    const monitor = createMonitor(new BlockGraph());
    const client = await connectInProcess(monitor.server);
    await client.executeRaw('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: 1048576 });
    await client.executeRaw('block-dirty-bitmap-add', { node: 'n0', name: 'b' });
    const nodes = (await client.executeRaw('query-named-block-nodes')) as { 'node-name': string }[];
    expect(nodes.map((n) => n['node-name'])).toEqual(['n0']);
    expect(await errorOf(client.executeRaw('block-job-cancel', { device: 'j' }))).toEqual({
      class: 'DeviceNotActive',
      desc: "Block job 'j' not found",
    });
    const events = client.listen({ names: ['JOB_STATUS_CHANGE'] });
    monitor.jobs.emit({ event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'created' } });
    expect((await events.next(undefined, 5000)).data).toEqual({ id: 'j', status: 'created' });
    events.close();
    await client.close();
    await monitor.shutdown();
    expect(monitor.graph.nodes).toHaveLength(0);
    await monitor.shutdown();
  });

  it('answers quit, closes the session and lets the owner shut down', async () => {
    let quitCalled = false;
    const monitor = createMonitor(new BlockGraph(), {
      onQuit: () => {
        quitCalled = true;
      },
    });
    const client = await connectInProcess(monitor.server);
    expect(await client.executeRaw('quit')).toEqual({});
    await new Promise((resolve) => setImmediate(resolve));
    expect(quitCalled).toBe(true);
    await monitor.shutdown();
    await client.close();
  });
});

describe('toQmpError', () => {
  it('keeps the QMP class of block-layer errors and maps anything else to GenericError', () => {
    const notActive = toQmpError(
      new BlockError('not-found', "Block job 'x' not found", { qmpClass: 'DeviceNotActive' }),
    );
    expect([notActive.class, notActive.desc]).toEqual(['DeviceNotActive', "Block job 'x' not found"]);
    const generic = toQmpError(new Error('boom'));
    expect([generic.class, generic.desc]).toEqual(['GenericError', 'boom']);
    const original = new QmpError('CommandNotFound', 'x');
    expect(toQmpError(original)).toBe(original);
  });
});
