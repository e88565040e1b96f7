import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { BlockGraph } from '../graph/graph.js';
import { EventLog } from '../test-support/event-log.js';
import { addMemoryImage } from '../test-support/memory-graph.js';
import { eventShape, jobEvents, loadTranscript } from '../test-support/transcript.js';
import { blockCommit } from './block-commit.js';
import { blockStream } from './block-stream.js';
import { blockdevBackup } from './blockdev-backup.js';
import { blockdevMirror } from './blockdev-mirror.js';
import { driveBackup } from './drive-backup.js';
import { driveMirror } from './drive-mirror.js';
import { JobManager } from './job-manager.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-negative-speed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const transcript = loadTranscript('job-negative-speed.txt');

/** The error QEMU answered to the command that started job `id`. */
function recordedError(id: string): string {
  const lines = transcript.split('\n');
  const sent = lines.findIndex((l) => l.startsWith('C: ') && l.includes(`"job-id":"${id}"`));
  const reply = lines.slice(sent + 1).find((l) => l.startsWith('S: ') && l.includes('"error"'))!;
  return (JSON.parse(reply.slice(3)) as { error: { desc: string } }).error.desc;
}

async function scene() {
  const graph = new BlockGraph();
  const base = await addMemoryImage(graph, { nodeName: 'base', size: 4 << 20 });
  await addMemoryImage(graph, { nodeName: 'top', size: 4 << 20, backing: base.node });
  await addMemoryImage(graph, { nodeName: 'tgt', size: 4 << 20 });
  const jobs = new JobManager();
  const log = new EventLog(jobs);
  const shape = () =>
    graph.nodes.map((n) => `${n.name}:${n.children.map((e) => e.child.name)}:${n.parents.length}`);
  return { graph, jobs, log, shape };
}

const STARTERS: Array<[string, (graph: BlockGraph, jobs: JobManager) => Promise<unknown>]> = [
  ['s', (graph, jobs) => blockStream(graph, jobs, { 'job-id': 's', device: 'top', speed: -1 })],
  [
    'm',
    (graph, jobs) =>
      blockdevMirror(graph, jobs, { 'job-id': 'm', device: 'top', target: 'tgt', sync: 'full', speed: -1 }),
  ],
  ['c', (graph, jobs) => blockCommit(graph, jobs, { 'job-id': 'c', device: 'top', speed: -1 })],
  [
    'b',
    (graph, jobs) =>
      blockdevBackup(graph, jobs, { 'job-id': 'b', device: 'top', target: 'tgt', sync: 'full', speed: -1 }),
  ],
  [
    'db',
    (graph, jobs) =>
      driveBackup(graph, jobs, {
        'job-id': 'db',
        device: 'top',
        target: join(dir, 'db.qcow2'),
        sync: 'full',
        speed: -1,
      }),
  ],
  [
    'dm',
    (graph, jobs) =>
      driveMirror(graph, jobs, {
        'job-id': 'dm',
        device: 'top',
        target: join(dir, 'dm.qcow2'),
        sync: 'full',
        speed: -1,
      }),
  ],
];

it.each(
  STARTERS,
)('job %s with a negative speed is created, then ends before the error, as in QEMU', async (id, start) => {
  const { graph, jobs, log, shape } = await scene();
  const before = shape();
  const expected = jobEvents(transcript, id).map(eventShape);
  expect(expected.length).toBe(2); // created, null
  await expect(start(graph, jobs)).rejects.toMatchObject({ name: 'BlockError', message: recordedError(id) });
  expect(log.of(id).map(eventShape)).toEqual(expected);
  expect(shape()).toEqual(before);
  expect(jobs.find(id)).toBeUndefined();
});

it('drive-backup creates its target file before refusing the speed, as QEMU does', async () => {
  const { graph, jobs } = await scene();
  const target = join(dir, 'created-first.qcow2');
  await expect(
    driveBackup(graph, jobs, { 'job-id': 'x', device: 'top', target, sync: 'full', speed: -5 }),
  ).rejects.toThrow("Parameter 'speed' expects a non-negative value");
  expect(existsSync(target)).toBe(true);
});
