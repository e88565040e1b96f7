import { BlockError } from '../errors.js';

/**
 * QEMU's refusal of a job speed, or null when `speed` is absent or valid. Job starters
 * apply the speed only once the job exists (as QEMU's block_job_create does), so a bad
 * speed ends an already created job: `created → null` comes before the error.
 */
export function speedError(speed: number | undefined): BlockError | null {
  if (speed === undefined || (Number.isSafeInteger(speed) && speed >= 0)) return null;
  return new BlockError('invalid-argument', "Parameter 'speed' expects a non-negative value");
}

/** The speed a job is constructed with: the requested one when valid, else unlimited until refused. */
export function initialSpeed(speed: number | undefined): number {
  return speedError(speed) ? 0 : (speed ?? 0);
}

/** Throws the refusal of {@link speedError}, for use right after the job was created. */
export function applySpeedCheck(speed: number | undefined): void {
  const error = speedError(speed);
  if (error) throw error;
}
