import { join } from 'node:path';
import type { JsonObject, JsonValue, QmpClient } from '@strata/qmp-protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkImage,
  createImage,
  DAEMONS,
  type DaemonSession,
  imageInfo,
  scratch,
  startDaemon,
} from './test-support/daemons.js';
import { errorOf } from './test-support/qmp-error.js';

/** The QMP error a call failed with, as `{ class, desc }`. */
const nodes = async (client: QmpClient) =>
  (await client.executeRaw('query-named-block-nodes', { flat: true })) as JsonObject[];

const BLOCK_DEVICE_INFO_KEYS = [
  'bps',
  'bps_rd',
  'bps_wr',
  'backing_file_depth',
  'cache',
  'detect_zeroes',
  'drv',
  'encrypted',
  'file',
  'image',
  'iops',
  'iops_rd',
  'iops_wr',
  'node-name',
  'ro',
  'write_threshold',
].sort();

describe.each(DAEMONS)('%s: negotiation, graph, snapshots, transactions', (kind) => {
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

  it('greets, refuses commands before negotiation and reports protocol errors', async () => {
    daemon = await startDaemon(kind, dir, [], false);
    const { client } = daemon;
    expect(client.greeting.version.qemu).toMatchObject({ major: 7, minor: 2 });
    expect(client.greeting.capabilities).toEqual(['oob']);
    expect(await errorOf(client.executeRaw('query-jobs'))).toEqual({
      class: 'CommandNotFound',
      desc: "Expecting capabilities negotiation with 'qmp_capabilities'",
    });
    await client.negotiate();
    expect(await errorOf(client.negotiate())).toEqual({
      class: 'CommandNotFound',
      desc: 'Capabilities negotiation is already complete, command ignored',
    });
    expect(await errorOf(client.executeRaw('no-such-command'))).toEqual({
      class: 'CommandNotFound',
      desc: 'The command no-such-command has not been found',
    });
    expect(await errorOf(client.executeRaw('blockdev-del', {}))).toEqual({
      class: 'GenericError',
      desc: "Parameter 'node-name' is missing",
    });
    expect(await errorOf(client.executeRaw('blockdev-add', { driver: 'nope', 'node-name': 'x' }))).toEqual({
      class: 'GenericError',
      desc: "Parameter 'driver' does not accept value 'nope'",
    });
    const version = (await client.executeRaw('query-version')) as JsonObject;
    expect(version['qemu']).toMatchObject({ major: 7, minor: 2 });
    const commands = ((await client.executeRaw('query-commands')) as JsonObject[]).map((c) => c['name']);
    expect(commands).toEqual(expect.arrayContaining(['blockdev-add', 'query-jobs', 'transaction', 'quit']));
  });

  it('adds, queries and deletes nodes, with QEMU errors for missing and busy ones', async () => {
    const image = join(dir, 'disk.qcow2');
    await createImage(image, '4M');
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'disk0',
      file: { driver: 'file', filename: image },
    });
    const listed = await nodes(client);
    expect(listed).toHaveLength(2);
    const [format, protocol] = listed as [JsonObject, JsonObject];
    expect(Object.keys(format).sort()).toEqual(BLOCK_DEVICE_INFO_KEYS);
    expect(format).toMatchObject({ 'node-name': 'disk0', drv: 'qcow2', ro: false, file: image });
    expect(format['image']).toMatchObject({
      'virtual-size': 4 * 1024 * 1024,
      format: 'qcow2',
      filename: image,
    });
    expect(protocol).toMatchObject({ drv: 'file', file: image });
    expect(String(protocol['node-name'])).toMatch(/^#block\d+$/);

    expect(
      await errorOf(
        client.executeRaw('blockdev-add', { driver: 'null-co', 'node-name': 'disk0', size: 1048576 }),
      ),
    ).toEqual({ class: 'GenericError', desc: "Duplicate nodes with node-name='disk0'" });
    expect(await errorOf(client.executeRaw('blockdev-add', { driver: 'null-co' }))).toEqual({
      class: 'GenericError',
      desc: "'node-name' must be specified for the root node",
    });
    expect(
      await errorOf(
        client.executeRaw('blockdev-add', {
          driver: 'qcow2',
          'node-name': 'gone',
          file: { driver: 'file', filename: join(dir, 'missing.qcow2') },
        }),
      ),
    ).toEqual({
      class: 'GenericError',
      desc: `Could not open '${join(dir, 'missing.qcow2')}': No such file or directory`,
    });
    expect(await errorOf(client.executeRaw('blockdev-del', { 'node-name': 'nope' }))).toEqual({
      class: 'GenericError',
      desc: "Failed to find node with node-name='nope'",
    });
    expect(
      await errorOf(client.executeRaw('blockdev-del', { 'node-name': String(protocol['node-name']) })),
    ).toEqual({
      class: 'GenericError',
      desc: `Node ${String(protocol['node-name'])} is not owned by the monitor`,
    });
    await client.executeRaw('blockdev-del', { 'node-name': 'disk0' });
    expect(await nodes(client)).toEqual([]);
    expect((await daemon.quit()).code).toBe(0);
    expect(await checkImage(image)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });

  it('reopens a node read-write and back, with QEMU errors for bad option sets', async () => {
    const image = join(dir, 'disk.qcow2');
    await createImage(image, '1M');
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'd',
      'read-only': true,
      file: { driver: 'file', filename: image, 'node-name': 'f' },
    });
    const readOnly = async () =>
      Object.fromEntries((await nodes(client)).map((n) => [n['node-name'], n['ro']]));
    expect(await readOnly()).toEqual({ d: true, f: true });
    await client.executeRaw('blockdev-reopen', {
      options: [{ driver: 'qcow2', 'node-name': 'd', file: 'f', 'read-only': false }],
    });
    expect(await readOnly()).toEqual({ d: false, f: false });
    expect(
      await errorOf(
        client.executeRaw('blockdev-reopen', { options: [{ driver: 'raw', 'node-name': 'd', file: 'f' }] }),
      ),
    ).toEqual({ class: 'GenericError', desc: "Cannot change the option 'driver'" });
    expect(
      await errorOf(
        client.executeRaw('blockdev-reopen', {
          options: [{ driver: 'qcow2', 'node-name': 'nope', file: 'f' }],
        }),
      ),
    ).toEqual({ class: 'GenericError', desc: "Failed to find node with node-name='nope'" });
    expect(
      await errorOf(
        client.executeRaw('blockdev-reopen', { options: [{ driver: 'qcow2', 'node-name': 'd' }] }),
      ),
    ).toEqual({ class: 'GenericError', desc: "Parameter 'options[0].file' is missing" });
    expect(await readOnly()).toEqual({ d: false, f: false });
    await client.executeRaw('blockdev-reopen', {
      options: [{ driver: 'qcow2', 'node-name': 'd', file: 'f', 'read-only': true }],
    });
    expect(await readOnly()).toEqual({ d: true, f: true });
    expect((await daemon.quit()).code).toBe(0);
    expect(await checkImage(image)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });

  it('reopens a node onto another backing node, detaches it, and refuses a missing backing or a cycle', async () => {
    const base = join(dir, 'base.qcow2');
    const mid = join(dir, 'mid.qcow2');
    const other = join(dir, 'other.qcow2');
    await createImage(base, '4M');
    await createImage(mid, '4M', base);
    await createImage(other, '4M');
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    const addQcow2 = (name: string, file: string, extra: Record<string, unknown> = {}) =>
      client.executeRaw('blockdev-add', {
        driver: 'qcow2',
        'node-name': name,
        file: { driver: 'file', filename: file, 'node-name': `f${name}` },
        ...extra,
      });
    await addQcow2('b', base);
    await addQcow2('o', other);
    await addQcow2('m', mid, { backing: 'b' });
    const reopenM = (extra: Record<string, unknown>) =>
      client.executeRaw('blockdev-reopen', {
        options: [{ driver: 'qcow2', 'node-name': 'm', file: 'fm', ...extra }],
      });
    expect(await errorOf(reopenM({}))).toEqual({ class: 'GenericError', desc: "backing is missing for 'm'" });
    expect(await errorOf(reopenM({ backing: 'nope' }))).toEqual({
      class: 'GenericError',
      desc: "Cannot find device='' nor node-name='nope'",
    });
    expect(await errorOf(reopenM({ backing: 'm' }))).toEqual({
      class: 'GenericError',
      desc: "Making 'm' a backing child of 'm' would create a cycle",
    });
    expect(
      await errorOf(
        client.executeRaw('blockdev-reopen', {
          options: [{ driver: 'qcow2', 'node-name': 'b', file: 'fb', backing: 'm' }],
        }),
      ),
    ).toEqual({ class: 'GenericError', desc: "Making 'm' a backing child of 'b' would create a cycle" });
    expect(await errorOf(client.executeRaw('blockdev-del', { 'node-name': 'b' }))).toEqual({
      class: 'GenericError',
      desc: "Node 'b' is busy: node is used as backing hd of 'm'",
    });
    await reopenM({ backing: 'o' });
    await client.executeRaw('blockdev-del', { 'node-name': 'b' });
    expect(await errorOf(client.executeRaw('blockdev-del', { 'node-name': 'o' }))).toEqual({
      class: 'GenericError',
      desc: "Node 'o' is busy: node is used as backing hd of 'm'",
    });
    await reopenM({ backing: null });
    await client.executeRaw('blockdev-del', { 'node-name': 'o' });
    // The image still names a backing file, so the option stays mandatory.
    expect(await errorOf(reopenM({}))).toEqual({ class: 'GenericError', desc: "backing is missing for 'm'" });
    await reopenM({ backing: null });
    expect((await nodes(client)).map((n) => n['node-name']).sort()).toEqual(['fm', 'm']);
    expect((await daemon.quit()).code).toBe(0);
    for (const image of [base, mid, other]) {
      expect(await checkImage(image)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    }
  });

  it('takes an external snapshot onto an overlay opened without backing', async () => {
    const base = join(dir, 'base.qcow2');
    const overlay = join(dir, 'overlay.qcow2');
    await createImage(base, '4M');
    await createImage(overlay, '4M', base);
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'base',
      file: { driver: 'file', filename: base },
    });
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'ovl',
      file: { driver: 'file', filename: overlay },
      backing: null,
    });
    expect(await errorOf(client.executeRaw('blockdev-snapshot', { node: 'nope', overlay: 'ovl' }))).toEqual({
      class: 'GenericError',
      desc: "Cannot find device='nope' nor node-name='nope'",
    });
    expect(await errorOf(client.executeRaw('blockdev-snapshot', { node: 'base', overlay: 'nope' }))).toEqual({
      class: 'GenericError',
      desc: "Cannot find device='nope' nor node-name='nope'",
    });
    await client.executeRaw('blockdev-snapshot', { node: 'base', overlay: 'ovl' });
    const byName = new Map((await nodes(client)).map((n) => [n['node-name'], n]));
    expect(byName.get('ovl')).toMatchObject({ backing_file: base, ro: false });
    expect(byName.get('base')).toMatchObject({ ro: true });
    expect(await errorOf(client.executeRaw('blockdev-del', { 'node-name': 'base' }))).toEqual({
      class: 'GenericError',
      desc: "Node 'base' is busy: node is used as backing hd of 'ovl'",
    });
    expect((await daemon.quit()).code).toBe(0);
    expect(await checkImage(base)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(await checkImage(overlay)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(await imageInfo(overlay)).toMatchObject({ 'backing-filename': base });
  });

  it('creates an overlay with blockdev-snapshot-sync, closed at once as nothing uses it', async () => {
    const base = join(dir, 'base.qcow2');
    const overlay = join(dir, 'overlay.qcow2');
    await createImage(base, '4M');
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'base',
      file: { driver: 'file', filename: base },
    });
    const sync = (extra: JsonObject) =>
      client.executeRaw('blockdev-snapshot-sync', {
        'node-name': 'base',
        'snapshot-file': overlay,
        ...extra,
      });
    expect(
      await errorOf(
        client.executeRaw('blockdev-snapshot-sync', { 'node-name': 'nope', 'snapshot-file': overlay }),
      ),
    ).toEqual({
      class: 'GenericError',
      desc: "Cannot find device='' nor node-name='nope'",
    });
    expect(await errorOf(sync({}))).toEqual({ class: 'GenericError', desc: 'New overlay node-name missing' });
    expect(await errorOf(sync({ 'snapshot-node-name': 'base' }))).toEqual({
      class: 'GenericError',
      desc: 'New overlay node-name already in use',
    });
    expect(await errorOf(sync({ 'snapshot-node-name': 'ovl', format: 'raw' }))).toEqual({
      class: 'GenericError',
      desc: "Backing file not supported for file format 'raw'",
    });
    const missingDir = join(dir, 'nodir', 'x.qcow2');
    expect(
      await errorOf(
        client.executeRaw('blockdev-snapshot-sync', {
          'node-name': 'base',
          'snapshot-file': missingDir,
          'snapshot-node-name': 'ovl',
        }),
      ),
    ).toEqual({ class: 'GenericError', desc: `Could not create '${missingDir}': No such file or directory` });
    expect(await errorOf(sync({ 'snapshot-node-name': 'ovl', mode: 'existing' }))).toEqual({
      class: 'GenericError',
      desc: `Could not open '${overlay}': No such file or directory`,
    });
    expect(
      (await nodes(client)).map((n) => n['node-name']).filter((n) => !String(n).startsWith('#')),
    ).toEqual(['base']);
    await sync({ 'snapshot-node-name': 'ovl' });
    // Nothing uses the new overlay (the daemon has no devices), so QEMU closes it at once
    // and the old node stays read-only.
    const after = await nodes(client);
    expect(after.map((n) => n['node-name']).filter((n) => !String(n).startsWith('#'))).toEqual(['base']);
    expect(after.find((n) => n['node-name'] === 'base')).toMatchObject({ ro: true });
    expect((await daemon.quit()).code).toBe(0);
    expect(await imageInfo(overlay)).toMatchObject({
      'backing-filename': base,
      'backing-filename-format': 'qcow2',
      'virtual-size': 4 * 1024 * 1024,
    });
    expect(await checkImage(base)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(await checkImage(overlay)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });

  it('runs transactions all or nothing', async () => {
    const base = join(dir, 'base.qcow2');
    await createImage(base, '4M');
    daemon = await startDaemon(kind, dir);
    const { client } = daemon;
    await client.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'base',
      file: { driver: 'file', filename: base },
    });
    const bitmapsOf = async (name: string): Promise<JsonValue> =>
      (await nodes(client)).find((n) => n['node-name'] === name)?.['dirty-bitmaps'] ?? [];

    expect(
      await errorOf(
        client.executeRaw('transaction', {
          actions: [
            { type: 'block-dirty-bitmap-add', data: { node: 'base', name: 'b1' } },
            { type: 'abort', data: {} },
          ],
        }),
      ),
    ).toEqual({ class: 'GenericError', desc: 'Transaction aborted using Abort action' });
    expect(await bitmapsOf('base')).toEqual([]);
    expect(
      await errorOf(
        client.executeRaw('transaction', {
          actions: [
            { type: 'block-dirty-bitmap-add', data: { node: 'base', name: 'b1' } },
            { type: 'blockdev-snapshot', data: { node: 'base', overlay: 'nope' } },
          ],
        }),
      ),
    ).toEqual({ class: 'GenericError', desc: "Cannot find device='nope' nor node-name='nope'" });
    expect(await bitmapsOf('base')).toEqual([]);
    expect(
      await errorOf(client.executeRaw('transaction', { actions: [{ type: 'x-nope', data: {} }] })),
    ).toEqual({ class: 'GenericError', desc: "Parameter 'type' does not accept value 'x-nope'" });
    await client.executeRaw('transaction', { actions: [] });
    await client.executeRaw('transaction', {
      actions: [
        { type: 'block-dirty-bitmap-add', data: { node: 'base', name: 'b1', granularity: 65536 } },
        { type: 'block-dirty-bitmap-add', data: { node: 'base', name: 'b2', disabled: true } },
      ],
    });
    expect(await bitmapsOf('base')).toEqual([
      { name: 'b2', recording: false, persistent: false, busy: false, granularity: 65536, count: 0 },
      { name: 'b1', recording: true, persistent: false, busy: false, granularity: 65536, count: 0 },
    ]);
    expect((await daemon.quit()).code).toBe(0);
    expect(await checkImage(base)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });
});
