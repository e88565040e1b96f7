import { describe, expect, it } from 'vitest';
import { BlockError } from '../errors.js';
import { BlockGraph } from '../graph/graph.js';
import { EventLog, settle } from '../test-support/event-log.js';
import { TestJob, type TestJobOptions } from '../test-support/test-job.js';
import { JobManager } from './job-manager.js';
import { JOB_VERBS, type JobStatus, type JobVerb, verbAllowed } from './job-status.js';
import { JobTxn } from './job-txn.js';

function setup() {
  const manager = new JobManager();
  const log = new EventLog(manager);
  const graph = new BlockGraph();
  const make = (options: Partial<TestJobOptions> & { id: string | null }) =>
    manager.create(new TestJob({ graph, ...options }));
  return { manager, log, graph, make };
}

/** Drives a fresh held job into `status` and returns it (with the means to release it). */
async function jobIn(status: JobStatus) {
  const env = setup();
  let releaseAbort: (() => void) | undefined;
  const readyPhase = status === 'ready' || status === 'standby';
  if (status === 'waiting') {
    const txn = new JobTxn();
    const other = env.make({ id: 'other', hold: true, steps: 1, txn });
    const job = env.make({ id: 'j', steps: 0, txn });
    other.start();
    job.start();
    await job.until((j) => j.status === 'waiting');
    return { ...env, job };
  }
  const job = env.make({
    id: 'j',
    hold: !readyPhase,
    steps: status === 'pending' || status === 'concluded' ? 0 : 2,
    readyPhase,
    autoFinalize: status !== 'pending',
    autoDismiss: status !== 'concluded',
  });
  if (status === 'created') return { ...env, job };
  if (status === 'aborting') {
    const gate = new Promise<void>((resolve) => {
      releaseAbort = resolve;
    });
    const original = job.log;
    Object.assign(job, {
      abort: async () => {
        original.push('abort');
        await gate;
      },
    });
  }
  job.start();
  if (status === 'running') return { ...env, job };
  if (status === 'paused') {
    job.userPause();
    await job.until((j) => j.status === 'paused');
    return { ...env, job };
  }
  if (readyPhase) {
    await job.until((j) => j.status === 'ready');
    if (status === 'standby') {
      job.userPause();
      await job.until((j) => j.status === 'standby');
    }
    return { ...env, job };
  }
  if (status === 'aborting') {
    void job.userCancel(true);
    await job.until((j) => j.status === 'aborting');
    return { ...env, job, releaseAbort };
  }
  await job.until((j) => j.status === status);
  return { ...env, job };
}

const STATES: JobStatus[] = [
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
  'concluded',
];

async function applyVerb(job: TestJob, manager: JobManager, verb: JobVerb): Promise<void> {
  switch (verb) {
    case 'cancel':
      return manager.jobCancel(job.id!);
    case 'pause':
      return job.userPause();
    case 'resume':
      return job.userResume();
    case 'set-speed':
      return job.setSpeed(1000);
    case 'complete':
      return job.complete();
    case 'finalize':
      return job.finalize();
    case 'dismiss':
      return job.dismiss();
  }
}

describe('job verbs in every state', () => {
  for (const state of STATES) {
    for (const verb of JOB_VERBS) {
      const allowed = verbAllowed(verb, state);
      it(`${verb} in ${state} is ${allowed ? 'accepted' : 'refused'}`, async () => {
        const env = await jobIn(state);
        const { job, manager } = env;
        const releaseAbort = 'releaseAbort' in env ? env.releaseAbort : undefined;
        expect(job.status).toBe(state);
        let error: unknown;
        try {
          await applyVerb(job, manager, verb);
        } catch (e) {
          error = e;
        }
        const verbError = `Job 'j' in state '${state}' cannot accept command verb '${verb}'`;
        if (allowed) {
          if (error) expect((error as Error).message).not.toBe(verbError);
          // Only the second-level checks may refuse an allowed verb.
          if (error) {
            expect(['Job is already paused', "Can't resume a job that was not paused"]).toContain(
              (error as Error).message,
            );
          }
        } else if (verb === 'resume' && !job.userPaused) {
          // QEMU checks "was it paused" before the table.
          expect((error as Error).message).toBe("Can't resume a job that was not paused");
        } else {
          expect(error).toBeInstanceOf(BlockError);
          expect((error as BlockError).reason).toBe('job-verb');
          expect((error as Error).message).toBe(verbError);
        }
        releaseAbort?.();
        await manager.jobs
          .find((j) => j.id === 'j')
          ?.userCancel(true)
          .catch(() => undefined);
        await settle();
      });
    }
  }
});

describe('job lifecycle', () => {
  it('runs created → running → waiting → pending → concluded → null with hooks in order', async () => {
    const { make, log } = setup();
    const job = make({ id: 's1', steps: 3 });
    job.start();
    await job.until((j) => j.status === 'null');
    expect(log.names('s1')).toEqual([
      'created',
      'running',
      'waiting',
      'pending',
      'BLOCK_JOB_COMPLETED',
      'concluded',
      'null',
    ]);
    expect(job.log).toEqual(['prepare', 'commit', 'clean']);
    expect(log.of('s1')[4]!.data).toEqual({ device: 's1', len: 3, offset: 3, speed: 0, type: 'stream' });
  });

  it('a failing job aborts without pending and reports the error', async () => {
    const { make, log, manager } = setup();
    const job = make({ id: 'f', steps: 3, failAt: 2, autoDismiss: false });
    job.start();
    await job.until((j) => j.status === 'concluded');
    expect(log.names('f')).toEqual(['created', 'running', 'aborting', 'BLOCK_JOB_COMPLETED', 'concluded']);
    expect(log.of('f')[3]!.data['error']).toBe('step 2 failed');
    expect(job.log).toEqual(['abort', 'clean']);
    expect(manager.queryJobs()).toEqual([
      {
        id: 'f',
        type: 'stream',
        status: 'concluded',
        'current-progress': 1,
        'total-progress': 3,
        error: 'step 2 failed',
      },
    ]);
    job.dismiss();
    expect(manager.queryJobs()).toEqual([]);
  });

  it('a failing prepare aborts the job', async () => {
    const { make, log } = setup();
    const job = make({ id: 'p', steps: 1, prepareError: 'cannot pivot' });
    job.start();
    await job.until((j) => j.status === 'null');
    expect(log.names('p')).toEqual([
      'created',
      'running',
      'waiting',
      'pending',
      'aborting',
      'BLOCK_JOB_COMPLETED',
      'concluded',
      'null',
    ]);
    expect(log.of('p')[5]!.data['error']).toBe('cannot pivot');
    expect(job.log).toEqual(['prepare', 'abort', 'clean']);
  });

  it('a job cancelled before it started ends without BLOCK_JOB events', async () => {
    const { make, log, manager } = setup();
    const job = make({ id: 'tb' });
    await manager.jobCancel('tb');
    expect(job.status).toBe('null');
    expect(log.names('tb')).toEqual(['created', 'aborting', 'concluded', 'null']);
  });

  it('pause accounting: user pause and drain pauses add up, the job stops only at a pause point', async () => {
    const { make, manager } = setup();
    const job = make({ id: 'pa', hold: true, steps: 5 });
    job.start();
    job.pause(); // a drained section
    await job.until((j) => j.status === 'paused');
    job.userPause();
    expect(job.pauseCount).toBe(2);
    expect(manager.queryBlockJobs()[0]!.paused).toBe(true);
    expect(manager.queryBlockJobs()[0]!.busy).toBe(false);
    job.resume(); // drained section ends: still user-paused
    await settle();
    expect(job.status).toBe('paused');
    job.userResume();
    await job.until((j) => j.status === 'running');
    expect(job.pauseCount).toBe(0);
    expect(() => job.userResume()).toThrow("Can't resume a job that was not paused");
    job.userPause();
    expect(() => job.userPause()).toThrow('Job is already paused');
    await manager.jobCancel('pa');
  });

  it('block-job-cancel without force is refused while user-paused; forced wakes the job first', async () => {
    const { make, manager, log } = setup();
    const job = make({ id: 'pm', hold: true, steps: 5 });
    job.start();
    job.userPause();
    await job.until((j) => j.status === 'paused');
    await expect(manager.blockJobCancel('pm')).rejects.toThrow(
      "The block job for device 'pm' is currently paused",
    );
    await manager.blockJobCancel('pm', true);
    await job.until((j) => j.status === 'null');
    expect(log.names('pm')).toEqual([
      'created',
      'running',
      'paused',
      'running',
      'aborting',
      'BLOCK_JOB_CANCELLED',
      'concluded',
      'null',
    ]);
  });

  it('soft cancel of a ready job finishes successfully; forced cancel is a cancel', async () => {
    const { make, manager, log } = setup();
    const soft = make({ id: 'm2', readyPhase: true, steps: 1 });
    soft.start();
    await soft.until((j) => j.status === 'ready');
    await manager.blockJobCancel('m2');
    await soft.until((j) => j.status === 'null');
    expect(log.names('m2')).toEqual([
      'created',
      'running',
      'ready',
      'BLOCK_JOB_READY',
      'waiting',
      'pending',
      'BLOCK_JOB_COMPLETED',
      'concluded',
      'null',
    ]);
    const before = make({ id: 'slow', readyPhase: true, hold: true, steps: 3 });
    before.start();
    await manager.blockJobCancel('slow');
    await before.until((j) => j.status === 'null');
    expect(log.names('slow')).toEqual([
      'created',
      'running',
      'aborting',
      'BLOCK_JOB_CANCELLED',
      'concluded',
      'null',
    ]);
  });

  it('complete is refused for jobs without a ready phase, and after a cancel', async () => {
    const { make } = setup();
    const job = make({ id: 'm', readyPhase: true, steps: 0, autoFinalize: false });
    job.start();
    await job.until((j) => j.status === 'ready');
    await job.userCancel(false);
    // The soft cancel is requested but the job is still ready until it notices.
    if (job.status === 'ready') {
      expect(() => job.complete()).toThrow("The active block job 'm' cannot be completed");
    }
    await job.until((j) => j.status === 'pending');
    await job.finalize();
  });

  it('error policy stop pauses with io-status, resume retries', async () => {
    const { make, manager, log } = setup();
    const job = make({ id: 'me', steps: 3, ioError: { at: 2, policy: 'stop' } });
    job.start();
    await job.until((j) => j.status === 'paused');
    expect(manager.queryBlockJobs()[0]).toMatchObject({
      'io-status': 'failed',
      paused: true,
      status: 'paused',
    });
    job.userResume();
    expect(job.ioStatus).toBe('ok');
    await job.until((j) => j.status === 'null');
    expect(log.names('me')).toEqual([
      'created',
      'running',
      'BLOCK_JOB_ERROR',
      'paused',
      'running',
      'waiting',
      'pending',
      'BLOCK_JOB_COMPLETED',
      'concluded',
      'null',
    ]);
    expect(log.of('me')[2]!.data).toEqual({ device: 'me', operation: 'write', action: 'stop' });
  });

  it('error policies report, ignore and enospc', async () => {
    const { make, log } = setup();
    const report = make({ id: 'r', steps: 2, ioError: { at: 1, policy: 'report', read: true } });
    const ignore = make({ id: 'i', steps: 2, ioError: { at: 1, policy: 'ignore' } });
    const enospc = make({ id: 'e', steps: 2, ioError: { at: 1, policy: 'enospc', nospace: true } });
    const other = make({ id: 'o', steps: 2, ioError: { at: 1, policy: 'enospc' } });
    for (const j of [report, ignore, enospc, other]) j.start();
    await report.until((j) => j.status === 'null');
    await ignore.until((j) => j.status === 'null');
    await enospc.until((j) => j.status === 'paused');
    await other.until((j) => j.status === 'null');
    expect(log.of('r')[2]).toEqual({
      event: 'BLOCK_JOB_ERROR',
      data: { device: 'r', operation: 'read', action: 'report' },
    });
    expect(log.names('r')).toContain('aborting');
    expect(log.names('i')).not.toContain('aborting');
    expect(log.of('i')[2]!.data['action']).toBe('ignore');
    expect(enospc.ioStatus).toBe('nospace');
    expect(log.of('o')[2]!.data['action']).toBe('report');
    await enospc.userCancel(true);
  });

  it('a group finishes together, and one failure cancels the others', async () => {
    const { make, log } = setup();
    const txn = new JobTxn();
    const a = make({ id: 'a', steps: 1, txn });
    const b = make({ id: 'b', hold: true, steps: 1, txn });
    a.start();
    b.start();
    await a.until((j) => j.status === 'waiting');
    expect(b.status).toBe('running');
    b.kick();
    await b.until((j) => j.status === 'null');
    await a.until((j) => j.status === 'null');
    expect(log.names('a')).toEqual([
      'created',
      'running',
      'waiting',
      'pending',
      'BLOCK_JOB_COMPLETED',
      'concluded',
      'null',
    ]);

    const txn2 = new JobTxn();
    const ok = make({ id: 'ok', hold: true, steps: 3, txn: txn2 });
    const bad = make({ id: 'bad', steps: 3, failAt: 1, txn: txn2 });
    ok.start();
    bad.start();
    await ok.until((j) => j.status === 'null');
    await bad.until((j) => j.status === 'null');
    expect(log.names('bad')).toEqual([
      'created',
      'running',
      'aborting',
      'BLOCK_JOB_COMPLETED',
      'concluded',
      'null',
    ]);
    expect(log.names('ok')).toEqual([
      'created',
      'running',
      'aborting',
      'BLOCK_JOB_CANCELLED',
      'concluded',
      'null',
    ]);
  });

  it('a group with manual finalization waits for job-finalize on any member, then finalizes all', async () => {
    const { make, log } = setup();
    const txn = new JobTxn();
    const a = make({ id: 'ga', steps: 1, txn, autoFinalize: false });
    const b = make({ id: 'gb', steps: 2, txn });
    a.start();
    b.start();
    await b.until((j) => j.status === 'pending');
    expect(a.status).toBe('pending');
    // Only the job with auto-finalize off announces it is pending.
    expect(log.names('ga')).toContain('BLOCK_JOB_PENDING');
    expect(log.names('gb')).not.toContain('BLOCK_JOB_PENDING');
    expect(log.of('ga').find((e) => e.event === 'BLOCK_JOB_PENDING')!.data).toEqual({
      type: 'stream',
      id: 'ga',
    });
    await b.finalize();
    expect(a.status).toBe('null');
    expect(b.status).toBe('null');
    expect(a.log).toEqual(['prepare', 'commit', 'clean']);
    expect(b.log).toEqual(['prepare', 'commit', 'clean']);
  });

  it('cancelling a pending job aborts it without any graph change (prepare never runs)', async () => {
    const { make, log, manager } = setup();
    const job = make({ id: 'pp', steps: 1, autoFinalize: false });
    job.start();
    await job.until((j) => j.status === 'pending');
    await manager.blockJobCancel('pp');
    expect(job.status).toBe('null');
    expect(job.log).toEqual(['abort', 'clean']);
    expect(log.names('pp').slice(-4)).toEqual(['aborting', 'BLOCK_JOB_CANCELLED', 'concluded', 'null']);
  });

  it('checks ids like QEMU', () => {
    const { make } = setup();
    expect(() => make({ id: '1bad' })).toThrow("Invalid job ID '1bad'");
    expect(() => make({ id: '' })).toThrow("Invalid job ID ''");
    make({ id: 'x' });
    expect(() => make({ id: 'x' })).toThrow("Job ID 'x' already in use");
  });

  it('looks jobs up with the two command families', () => {
    const { manager } = setup();
    expect(() => manager.get('nope')).toThrow('Job not found');
    try {
      manager.getBlockJob('nope');
    } catch (e) {
      expect((e as BlockError).qmpClass).toBe('DeviceNotActive');
      expect((e as Error).message).toBe("Block job 'nope' not found");
    }
    expect.assertions(3);
  });

  it('lists jobs newest first; internal jobs are hidden and silent', async () => {
    const { make, manager, log } = setup();
    make({ id: 'first' });
    make({ id: null });
    make({ id: 'second' });
    expect(manager.queryJobs().map((j) => j.id)).toEqual(['second', 'first']);
    expect(log.events.every((e) => (e.data as { id?: string }).id !== '')).toBe(true);
  });

  it('set-speed refuses negative speeds and reports the speed', async () => {
    const { make, manager } = setup();
    const job = make({ id: 'sp', hold: true, steps: 2 });
    job.start();
    expect(() => job.setSpeed(-1)).toThrow("Parameter 'speed' expects a non-negative value");
    job.setSpeed(65536);
    expect(manager.queryBlockJobs()[0]!.speed).toBe(65536);
    await manager.jobCancel('sp');
  });
});
