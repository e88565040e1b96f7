import { describe, expect, it } from 'vitest';
import {
  canTransition,
  isCompletedStatus,
  JOB_STATUSES,
  JOB_TRANSITIONS,
  JOB_VERB_TABLE,
  JOB_VERBS,
  verbAllowed,
} from './job-status.js';

describe('job state tables', () => {
  it('allow exactly the transitions of QEMU 7.2', () => {
    const allowed = JOB_STATUSES.flatMap((from) =>
      JOB_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}>${to}`),
    );
    expect(allowed).toEqual([
      'undefined>created',
      'created>running',
      'created>aborting',
      'created>null',
      'running>paused',
      'running>ready',
      'running>waiting',
      'running>aborting',
      'paused>running',
      'ready>standby',
      'ready>waiting',
      'ready>aborting',
      'standby>ready',
      'waiting>pending',
      'waiting>aborting',
      'pending>aborting',
      'pending>concluded',
      'aborting>aborting',
      'aborting>concluded',
      'concluded>null',
    ]);
  });

  it('accept each verb in exactly QEMU 7.2 states', () => {
    const grid = JOB_VERBS.map(
      (verb) => `${verb}: ${JOB_STATUSES.map((s) => (verbAllowed(verb, s) ? 1 : 0)).join('')}`,
    );
    // Columns: undefined created running paused ready standby waiting pending aborting concluded null
    expect(grid).toEqual([
      'cancel: 01111111000',
      'pause: 01111100000',
      'resume: 01111100000',
      'set-speed: 01111100000',
      'complete: 00001100000',
      'finalize: 00000001000',
      'dismiss: 00000000010',
    ]);
  });

  it('tables only name known statuses', () => {
    for (const targets of Object.values(JOB_TRANSITIONS)) {
      for (const s of targets) expect(JOB_STATUSES).toContain(s);
    }
    for (const states of Object.values(JOB_VERB_TABLE))
      for (const s of states) expect(JOB_STATUSES).toContain(s);
  });

  it('treats waiting and later as completed', () => {
    expect(JOB_STATUSES.filter(isCompletedStatus)).toEqual([
      'waiting',
      'pending',
      'aborting',
      'concluded',
      'null',
    ]);
  });
});
