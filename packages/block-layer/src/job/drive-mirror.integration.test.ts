import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { blockdevAdd } from '../graph/blockdev-add.js';
import { BlockGraph } from '../graph/graph.js';
import { qemu } from '../test-support/qemu-tools.js';
import { qsdSession } from '../test-support/qsd-session.js';
import { driveMirror } from './drive-mirror.js';
import { JobManager } from './job-manager.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-drive-mirror-qsd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function targetInfo(path: string, side: string) {
  const info = JSON.parse(await qemu('qemu-img', ['info', '--output=json', path])) as Record<string, unknown>;
  const backing = info['backing-filename'];
  return {
    format: info['format'],
    size: info['virtual-size'],
    backing: typeof backing === 'string' ? backing.replace(dir, '<dir>').replace(side, 'SIDE') : null,
    backingFormat: info['backing-filename-format'] ?? null,
  };
}

it.each([
  'full',
  'top',
  'none',
] as const)('drive-mirror sync %s creates the same target image as qemu-storage-daemon', async (sync) => {
  const results = [];
  for (const side of ['qemu', 'strata']) {
    const base = join(dir, `${sync}-${side}-base.qcow2`);
    const top = join(dir, `${sync}-${side}-top.qcow2`);
    const target = join(dir, `${sync}-${side}-target.qcow2`);
    await qemu('qemu-img', ['create', '-f', 'qcow2', base, '4M']);
    await qemu('qemu-img', ['create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top]);
    if (side === 'qemu') {
      const qsd = await qsdSession(
        dir,
        ['--blockdev', `driver=qcow2,node-name=disk,file.driver=file,file.filename=${top}`],
        'disk',
      );
      const reply = await qsd.execute('drive-mirror', { 'job-id': 'j', device: 'disk', target, sync });
      expect(reply['error']).toBeUndefined();
      await qsd.execute('block-job-cancel', { device: 'j', force: true });
      await qsd.quit();
    } else {
      const graph = new BlockGraph();
      const node = await blockdevAdd(graph, {
        driver: 'qcow2',
        'node-name': 'disk',
        file: { driver: 'file', filename: top },
      });
      const user = BlockBackend.attach(graph, node, { name: '' });
      const jobs = new JobManager();
      const job = await driveMirror(graph, jobs, { 'job-id': 'j', device: 'disk', target, sync });
      await job.cancel(true);
      await job.until((j) => j.status === 'null');
      user.detach();
      await graph.closeAll();
    }
    results.push(await targetInfo(target, side));
  }
  expect(results[1]).toEqual(results[0]);
  expect(results[0]!.backing).toBe(
    sync === 'full'
      ? null
      : sync === 'top'
        ? `<dir>/${sync}-SIDE-base.qcow2`
        : `<dir>/${sync}-SIDE-top.qcow2`,
  );
});
