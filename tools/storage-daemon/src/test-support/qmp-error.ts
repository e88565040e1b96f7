import { isQmpError } from '@strata/qmp-protocol';

/**
 * The QMP error a command fails with, as plain data both daemons can be compared on.
 * A command that succeeds, or fails with anything but a QMP error, fails the test.
 */
export async function errorOf(call: Promise<unknown>): Promise<{ class: string; desc: string }> {
  try {
    await call;
  } catch (error) {
    if (isQmpError(error)) return { class: error.class, desc: error.desc };
    throw error;
  }
  throw new Error('the command succeeded');
}
