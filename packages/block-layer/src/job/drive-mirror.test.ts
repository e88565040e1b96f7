import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlockBackend } from '../backend/block-backend.js';
import { blockdevAdd } from '../graph/blockdev-add.js';
import { BlockGraph } from '../graph/graph.js';
import { addMemoryImage, filled, readNode } from '../test-support/memory-graph.js';
import { type DriveMirrorArgs, driveMirror } from './drive-mirror.js';
import { JobManager } from './job-manager.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-drive-mirror-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function scene() {
  const graph = new BlockGraph();
  const src = await addMemoryImage(graph, { nodeName: 'src', size: 1 << 20 });
  const vda = BlockBackend.attach(graph, src.node, { name: 'vda' });
  await vda.write(filled(65536, 7), 0);
  return { graph, vda, jobs: new JobManager() };
}

async function contents(path: string, offset: number, length: number): Promise<Uint8Array> {
  const graph = new BlockGraph();
  const node = await blockdevAdd(graph, {
    driver: 'qcow2',
    'node-name': 'check',
    file: { driver: 'file', filename: path },
  });
  const data = await readNode(node, offset, length);
  await graph.closeAll();
  return data;
}

describe('drive-mirror', () => {
  it('creates the target, mirrors onto it, and closes it when a soft cancel ends the job', async () => {
    const { graph, vda, jobs } = await scene();
    const path = join(dir, 'cancelled.qcow2');
    const job = await driveMirror(graph, jobs, { 'job-id': 'dm', device: 'src', target: path, sync: 'full' });
    await job.until((j) => j.status === 'ready');
    expect(graph.nodes.some((n) => n.filename === path)).toBe(true);
    await job.cancel(false);
    await job.until((j) => j.status === 'null');
    // The target is closed asynchronously once the job is gone.
    for (let i = 0; i < 200 && graph.nodes.some((n) => n.filename === path); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(vda.node.name).toBe('src');
    expect(graph.nodes.some((n) => n.filename === path)).toBe(false);
    expect([...(await contents(path, 0, 65536))].every((b) => b === 7)).toBe(true);
  });

  it('complete pivots the guest onto the created image, which stays open', async () => {
    const { graph, vda, jobs } = await scene();
    const path = join(dir, 'pivot.qcow2');
    const job = await driveMirror(graph, jobs, { 'job-id': 'dm', device: 'src', target: path, sync: 'full' });
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'null');
    await new Promise((r) => setImmediate(r));
    expect(vda.node.filename).toBe(path);
    await vda.write(filled(512, 9), 4096);
    vda.detach();
    await graph.closeAll();
    const data = await contents(path, 0, 8192);
    expect([data[0], data[4096]]).toEqual([7, 9]);
  });

  it('refuses bad arguments, closing what it opened', async () => {
    const { graph, jobs } = await scene();
    const names = () => graph.nodes.map((n) => n.name);
    const before = names();
    const cases: Array<[Partial<DriveMirrorArgs>, string]> = [
      [{ sync: undefined }, "Parameter 'sync' is missing"],
      [{ sync: 'incremental' }, "Sync mode 'incremental' not supported"],
      [{ mode: 'existing', target: join(dir, 'absent.qcow2') }, 'Could not open'],
      [{ format: 'vmdk' }, "Unknown driver 'vmdk'"],
      [{ speed: -1 }, "Parameter 'speed' expects a non-negative value"],
      [{ 'node-name': 'src' }, "Duplicate nodes with node-name='src'"],
    ];
    for (const [changes, message] of cases) {
      const args = {
        'job-id': 'bad',
        device: 'src',
        target: join(dir, 'bad.qcow2'),
        sync: 'full',
        ...changes,
      };
      await expect(driveMirror(graph, jobs, args as DriveMirrorArgs)).rejects.toThrow(message);
      expect(names()).toEqual(before);
    }
    expect(existsSync(join(dir, 'absent.qcow2'))).toBe(false);
  });
});
