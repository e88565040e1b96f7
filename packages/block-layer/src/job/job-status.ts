/**
 * QEMU's job state machine as data: the statuses, which status may follow which, and in
 * which statuses each user command ("verb") is accepted. A refused verb is a table lookup.
 */

/** A job's status as QMP reports it (`undefined` never shows on the wire). */
export type JobStatus =
  | 'undefined'
  | 'created'
  | 'running'
  | 'paused'
  | 'ready'
  | 'standby'
  | 'waiting'
  | 'pending'
  | 'aborting'
  | 'concluded'
  | 'null';

/** The user commands on a job, by their QMP verb names. */
export type JobVerb = 'cancel' | 'pause' | 'resume' | 'set-speed' | 'complete' | 'finalize' | 'dismiss';

/** Every status, in QEMU's enumeration order (the order of the tables below). */
export const JOB_STATUSES: readonly JobStatus[] = [
  'undefined',
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
  'concluded',
  'null',
];

/** Every verb, in QEMU's enumeration order. */
export const JOB_VERBS: readonly JobVerb[] = [
  'cancel',
  'pause',
  'resume',
  'set-speed',
  'complete',
  'finalize',
  'dismiss',
];

/** Status → statuses it may move to. Anything else is an internal bug (we throw). */
export const JOB_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  undefined: ['created'],
  created: ['running', 'aborting', 'null'],
  running: ['paused', 'ready', 'waiting', 'aborting'],
  paused: ['running'],
  ready: ['standby', 'waiting', 'aborting'],
  standby: ['ready'],
  waiting: ['pending', 'aborting'],
  pending: ['aborting', 'concluded'],
  aborting: ['aborting', 'concluded'],
  concluded: ['null'],
  null: [],
};

/** Verb → statuses in which it is accepted. */
export const JOB_VERB_TABLE: Readonly<Record<JobVerb, readonly JobStatus[]>> = {
  cancel: ['created', 'running', 'paused', 'ready', 'standby', 'waiting', 'pending'],
  pause: ['created', 'running', 'paused', 'ready', 'standby'],
  resume: ['created', 'running', 'paused', 'ready', 'standby'],
  'set-speed': ['created', 'running', 'paused', 'ready', 'standby'],
  complete: ['ready', 'standby'],
  finalize: ['pending'],
  dismiss: ['concluded'],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

export function verbAllowed(verb: JobVerb, status: JobStatus): boolean {
  return JOB_VERB_TABLE[verb].includes(status);
}

/** Whether a job in `status` has finished its work (successfully or not). */
export function isCompletedStatus(status: JobStatus): boolean {
  return (
    status === 'waiting' ||
    status === 'pending' ||
    status === 'aborting' ||
    status === 'concluded' ||
    status === 'null'
  );
}
