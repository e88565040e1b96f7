import type { JobManager } from '@strata/block-layer';
import type { Register } from './monitor.js';

/**
 * The job verbs in both of QMP's families: `block-job-*` find jobs by `device` and answer
 * `DeviceNotActive` for an unknown one; `job-*` find them by `id` and answer `GenericError`.
 */
export function registerJobCommands(on: Register, jobs: JobManager): void {
  const device = (args: Record<string, unknown>) => jobs.getBlockJob(String(args['device']));
  const byId = (args: Record<string, unknown>) => jobs.getBlockJob(String(args['id']));
  const job = (args: Record<string, unknown>) => jobs.get(String(args['id']));

  on('query-jobs', () => jobs.queryJobs());
  on('query-block-jobs', () => jobs.queryBlockJobs());

  on('block-job-set-speed', (args) => {
    device(args).setSpeed(Number(args['speed']));
  });
  on('block-job-cancel', async (args) => {
    await jobs.blockJobCancel(String(args['device']), args['force'] === true);
  });
  on('block-job-pause', (args) => {
    device(args).userPause();
  });
  on('block-job-resume', (args) => {
    device(args).userResume();
  });
  on('block-job-complete', (args) => {
    device(args).complete();
  });
  on('block-job-finalize', async (args) => {
    await byId(args).finalize();
  });
  on('block-job-dismiss', (args) => {
    byId(args).dismiss();
  });

  on('job-pause', (args) => {
    job(args).userPause();
  });
  on('job-resume', (args) => {
    job(args).userResume();
  });
  on('job-cancel', async (args) => {
    await jobs.jobCancel(String(args['id']));
  });
  on('job-complete', (args) => {
    job(args).complete();
  });
  on('job-finalize', async (args) => {
    await job(args).finalize();
  });
  on('job-dismiss', (args) => {
    job(args).dismiss();
  });
}
