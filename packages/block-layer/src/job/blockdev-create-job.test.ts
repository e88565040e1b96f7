import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryFile } from '@strata/image-format';
import { describe, expect, it } from 'vitest';
import { qcow2Opener } from '../drivers/qcow2-node.js';
import { BlockGraph } from '../graph/graph.js';
import { addFileNode, addQcow2Node } from '../graph/open.js';
import { EventLog } from '../test-support/event-log.js';
import { eventShape, jobEvents, loadTranscript } from '../test-support/transcript.js';
import { type BlockdevCreateOptions, blockdevCreate } from './blockdev-create-job.js';
import { JobManager } from './job-manager.js';

function recorded(id: string): string[] {
  return jobEvents(loadTranscript('job-error-stop-and-create.txt'), id).map(eventShape);
}

describe('blockdev-create', () => {
  it('creates a host file and a qcow2 image in a node, with QEMU events (cr1, cr2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-create-'));
    try {
      const graph = new BlockGraph();
      const jobs = new JobManager();
      const log = new EventLog(jobs);
      const path = join(dir, 'created.img');
      const cr1 = blockdevCreate(graph, jobs, {
        'job-id': 'cr1',
        options: { driver: 'file', filename: path, size: 0 },
      });
      await cr1.until((j) => j.status === 'concluded');
      expect(jobs.queryJobs()).toEqual([
        { id: 'cr1', type: 'create', status: 'concluded', 'current-progress': 1, 'total-progress': 1 },
      ]);
      cr1.dismiss();
      expect((await stat(path)).size).toBe(0);
      const memory = new MemoryFile('/mem/created.qcow2');
      await addFileNode(graph, { nodeName: 'cf', file: memory });
      const cr2 = blockdevCreate(graph, jobs, {
        'job-id': 'cr2',
        options: { driver: 'qcow2', file: 'cf', size: 16 << 20, 'cluster-size': 65536 },
      });
      await cr2.until((j) => j.status === 'concluded');
      cr2.dismiss();
      const image = await addQcow2Node(graph, {
        nodeName: 'c',
        file: graph.require('cf'),
        opener: qcow2Opener,
      });
      expect(image.length).toBe(16 << 20);
      expect(image.imageInfo()['cluster-size']).toBe(65536);
      expect(log.of('cr1').map(eventShape)).toEqual(recorded('cr1'));
      expect(log.of('cr2').map(eventShape)).toEqual(recorded('cr2'));
      await graph.closeAll();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('raw sizes the node', async () => {
    const graph = new BlockGraph();
    const jobs = new JobManager();
    const file = await addFileNode(graph, { nodeName: 'rf', file: new MemoryFile('/mem/r.raw') });
    const job = blockdevCreate(graph, jobs, {
      'job-id': 'r',
      options: { driver: 'raw', file: 'rf', size: 1 << 20 },
    });
    await job.until((j) => j.status === 'concluded');
    expect(job.error).toBeNull();
    expect(file.length).toBe(1 << 20);
  });

  it('a failing creation ends the job with the error; bad options are refused before any job exists', async () => {
    const graph = new BlockGraph();
    const jobs = new JobManager();
    await addFileNode(graph, { nodeName: 'f', file: new MemoryFile('/mem/f') });
    const job = blockdevCreate(graph, jobs, {
      'job-id': 'bad',
      options: { driver: 'qcow2', file: 'f', size: 1 << 20, 'cluster-size': 1000 },
    });
    await job.until((j) => j.status === 'concluded');
    expect(job.error).toMatch(/Cluster size/);
    expect(() =>
      blockdevCreate(graph, jobs, {
        'job-id': 'x',
        options: { driver: 'vmdk', size: 1 } as unknown as BlockdevCreateOptions,
      }),
    ).toThrow("Driver 'vmdk' does not support image creation");
    expect(() =>
      blockdevCreate(graph, jobs, { 'job-id': 'x', options: { driver: 'qcow2', file: 'f', size: -1 } }),
    ).toThrow("Parameter 'size' expects a non-negative value");
    expect(() =>
      blockdevCreate(graph, jobs, { 'job-id': 'x', options: { driver: 'qcow2', file: 'nope', size: 1 } }),
    ).toThrow("Cannot find device='' nor node-name='nope'");
    expect(jobs.find('x')).toBeUndefined();
  });
});
