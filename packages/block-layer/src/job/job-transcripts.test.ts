import { describe, expect, it } from 'vitest';
import { addNullNode } from '../graph/open.js';
import { BlockGraph } from '../graph/graph.js';
import { CLAIMS } from '../graph/permissions.js';
import { drain } from '../io/drain.js';
import { CreateJob } from '../test-support/create-job.js';
import { EventLog, settle } from '../test-support/event-log.js';
import { TestJob, type TestJobOptions } from '../test-support/test-job.js';
import { eventShape, jobEvents, loadTranscript } from '../test-support/transcript.js';
import { JobManager } from './job-manager.js';
import { JobTxn } from './job-txn.js';

/**
 * Each scenario replays what a recorded qemu-storage-daemon session did to one job and
 * compares the job's events (names, statuses, actions, payload members) with QEMU's.
 */
function setup() {
  const manager = new JobManager();
  const log = new EventLog(manager);
  const graph = new BlockGraph();
  const make = (options: Partial<TestJobOptions> & { id: string }) =>
    manager.create(new TestJob({ graph, ...options }));
  const shapes = (id: string) => log.of(id).map(eventShape);
  return { manager, log, graph, make, shapes };
}

function recorded(file: string, id: string): string[] {
  const events = jobEvents(loadTranscript(file), id).map(eventShape);
  // A scenario compared against nothing would prove nothing.
  expect(events.length).toBeGreaterThan(3);
  return events;
}

describe('job events match QEMU transcripts', () => {
  it('mirror-manual-finalize: m1 with auto-finalize and auto-dismiss off', async () => {
    const { make, shapes } = setup();
    const job = make({
      id: 'm1',
      type: 'mirror',
      readyPhase: true,
      steps: 2,
      autoFinalize: false,
      autoDismiss: false,
    });
    job.start();
    await job.until((j) => j.status === 'ready');
    await expect(job.finalize()).rejects.toThrow(
      "Job 'm1' in state 'ready' cannot accept command verb 'finalize'",
    );
    expect(() => job.dismiss()).toThrow("Job 'm1' in state 'ready' cannot accept command verb 'dismiss'");
    job.complete();
    await job.until((j) => j.status === 'pending');
    await job.finalize();
    expect(job.status).toBe('concluded');
    job.dismiss();
    expect(shapes('m1')).toEqual(recorded('mirror-manual-finalize.txt', 'm1'));
  });

  it('mirror-cancel-after-ready: soft cancel (m2), forced cancel (m3), pause while ready (m4)', async () => {
    const { make, manager, shapes } = setup();
    const m2 = make({ id: 'm2', type: 'mirror', readyPhase: true, steps: 1 });
    m2.start();
    await m2.until((j) => j.status === 'ready');
    await manager.blockJobCancel('m2');
    await m2.until((j) => j.status === 'null');
    expect(shapes('m2')).toEqual(recorded('mirror-cancel-after-ready.txt', 'm2'));

    const m3 = make({ id: 'm3', type: 'mirror', readyPhase: true, steps: 1 });
    m3.start();
    await m3.until((j) => j.status === 'ready');
    await manager.blockJobCancel('m3', true);
    await m3.until((j) => j.status === 'null');
    expect(shapes('m3')).toEqual(recorded('mirror-cancel-after-ready.txt', 'm3'));

    const m4 = make({ id: 'm4', type: 'mirror', readyPhase: true, steps: 1 });
    m4.start();
    await m4.until((j) => j.status === 'ready');
    m4.userPause();
    await m4.until((j) => j.status === 'standby');
    expect(manager.queryBlockJobs()[0]).toMatchObject({ status: 'standby', paused: true, ready: true });
    m4.userResume();
    await m4.until((j) => j.status === 'ready');
    m4.complete();
    await m4.until((j) => j.status === 'null');
    expect(shapes('m4')).toEqual(recorded('mirror-cancel-after-ready.txt', 'm4'));
  });

  it('mirror-cancel-before-ready: a soft cancel before ready is a real cancel', async () => {
    const { make, manager, shapes } = setup();
    const job = make({ id: 'slow', type: 'mirror', readyPhase: true, hold: true, steps: 64, speed: 1048576 });
    job.start();
    job.kick();
    await settle();
    await manager.blockJobCancel('slow');
    await job.until((j) => j.status === 'null');
    expect(shapes('slow')).toEqual(recorded('mirror-cancel-before-ready.txt', 'slow'));
  });

  it('job-verb-errors: pause, double pause, resume into ready, soft cancel (slow); backup cancel (bk)', async () => {
    const { make, manager, graph, shapes } = setup();
    const slow = make({ id: 'slow', type: 'mirror', readyPhase: true, hold: true, steps: 1, speed: 1 });
    slow.start();
    expect(() => slow.complete()).toThrow(
      "Job 'slow' in state 'running' cannot accept command verb 'complete'",
    );
    slow.userPause();
    await slow.until((j) => j.status === 'paused');
    expect(() => slow.userPause()).toThrow('Job is already paused');
    slow.userResume();
    slow.kick();
    await slow.until((j) => j.status === 'ready');
    expect(() => slow.userResume()).toThrow("Can't resume a job that was not paused");
    await manager.blockJobCancel('slow');
    await slow.until((j) => j.status === 'null');
    expect(shapes('slow')).toEqual(recorded('job-verb-errors.txt', 'slow'));

    // A backup starts inside a drained section (its transaction), hence paused/running.
    const node = addNullNode(graph, { nodeName: 'src', size: 16 << 20 });
    const bk = make({ id: 'bk', type: 'backup', hold: true, steps: 16 });
    bk.addNode(node, 'main node', CLAIMS.reader);
    const section = await drain(graph, [node]);
    bk.start();
    section.end();
    await bk.until((j) => j.status === 'running');
    expect(() => bk.complete()).toThrow("Job 'bk' in state 'running' cannot accept command verb 'complete'");
    await manager.blockJobCancel('bk');
    await bk.until((j) => j.status === 'null');
    expect(shapes('bk')).toEqual(recorded('job-verb-errors.txt', 'bk'));
  });

  it('pause-then-cancel: user-paused mirror (pm) and backup (pb)', async () => {
    const { make, manager, graph, shapes } = setup();
    const pm = make({ id: 'pm', type: 'mirror', readyPhase: true, hold: true, steps: 64 });
    pm.start();
    pm.userPause();
    await pm.until((j) => j.status === 'paused');
    await expect(manager.blockJobCancel('pm')).rejects.toThrow(
      "The block job for device 'pm' is currently paused",
    );
    await manager.blockJobCancel('pm', true);
    await pm.until((j) => j.status === 'null');
    expect(shapes('pm')).toEqual(recorded('pause-then-cancel.txt', 'pm'));

    const node = addNullNode(graph, { nodeName: 'src', size: 64 << 20 });
    const pb = make({ id: 'pb', type: 'backup', hold: true, steps: 64 });
    pb.addNode(node, 'main node', CLAIMS.reader);
    const section = await drain(graph, [node]);
    pb.start();
    section.end();
    await pb.until((j) => j.status === 'running');
    pb.userPause();
    await pb.until((j) => j.status === 'paused');
    await manager.jobCancel('pb');
    await pb.until((j) => j.status === 'null');
    expect(shapes('pb')).toEqual(recorded('pause-then-cancel.txt', 'pb'));
  });

  it('job-error-stop-and-create: stop policy (me), early failure (g), create jobs (cr1)', async () => {
    const { make, manager, shapes, log } = setup();
    const me = make({
      id: 'me',
      type: 'mirror',
      readyPhase: true,
      steps: 3,
      ioError: { at: 2, policy: 'stop' },
    });
    me.start();
    await me.until((j) => j.status === 'paused');
    expect(manager.queryBlockJobs()[0]).toMatchObject({
      'io-status': 'failed',
      status: 'paused',
      paused: true,
    });
    manager.get('me').userResume();
    await me.until((j) => j.status === 'ready');
    expect(manager.queryBlockJobs()[0]).toMatchObject({ 'io-status': 'ok', ready: true });
    await manager.jobCancel('me');
    await me.until((j) => j.status === 'null');
    expect(shapes('me')).toEqual(recorded('job-error-stop-and-create.txt', 'me'));

    const g = make({ id: 'g', type: 'mirror', steps: 1, failAt: 1 });
    g.start();
    await g.until((j) => j.status === 'null');
    const gRecorded = recorded('pause-then-cancel.txt', 'g');
    expect(shapes('g')).toEqual(gRecorded);

    const cr1 = manager.create(new CreateJob({ id: 'cr1', autoDismiss: false }));
    cr1.start();
    await cr1.until((j) => j.status === 'concluded');
    expect(manager.queryJobs()).toEqual([
      { 'current-progress': 1, status: 'concluded', 'total-progress': 1, type: 'create', id: 'cr1' },
    ]);
    cr1.dismiss();
    expect(log.of('cr1').map(eventShape)).toEqual(recorded('job-error-stop-and-create.txt', 'cr1'));
  });

  it('transaction-abort-and-snapshot: a created job aborted with its transaction (tb)', async () => {
    const { make, shapes } = setup();
    const tb = make({ id: 'tb', type: 'backup' });
    await tb.cancel(true);
    expect(shapes('tb')).toEqual(recorded('transaction-abort-and-snapshot.txt', 'tb'));
  });

  it('stream: a job that ends by itself (s1)', async () => {
    const { make, shapes } = setup();
    const s1 = make({ id: 's1', type: 'stream', steps: 4 });
    s1.start();
    await s1.until((j) => j.status === 'null');
    expect(shapes('s1')).toEqual(recorded('stream.txt', 's1'));
  });

  it('backup-transaction-bitmaps: a grouped failure cancels the other job (g-ok, g-bad)', async () => {
    const { make, graph, shapes } = setup();
    const node = addNullNode(graph, { nodeName: 'src', size: 16 << 20 });
    const txn = new JobTxn();
    const ok = make({ id: 'g-ok', type: 'backup', hold: true, steps: 16, txn });
    const bad = make({
      id: 'g-bad',
      type: 'backup',
      hold: true,
      steps: 16,
      txn,
      ioError: { at: 1, policy: 'report' },
    });
    ok.addNode(node, 'main node', CLAIMS.reader);
    bad.addNode(addNullNode(graph, { size: 16 << 20 }), 'main node', CLAIMS.reader);
    const section = await drain(graph, [node]);
    bad.pause(); // drained in the same transaction
    ok.start();
    bad.start();
    section.end();
    bad.resume();
    bad.kick();
    await ok.until((j) => j.status === 'null');
    await bad.until((j) => j.status === 'null');
    expect(shapes('g-bad')).toEqual(recorded('backup-transaction-bitmaps.txt', 'g-bad'));
    expect(shapes('g-ok')).toEqual(recorded('backup-transaction-bitmaps.txt', 'g-ok'));
  });
});
