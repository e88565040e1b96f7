import { QmpClient, type QmpClientOptions } from '@strata/qmp-protocol';

/**
 * Connects to a daemon's QMP monitor socket that has just appeared. A unix socket's file
 * exists from bind(), a moment before listen(): a connection in that gap is refused, so
 * refusals are retried for a while (other errors are not).
 */
export async function connectMonitor(path: string, options: QmpClientOptions = {}): Promise<QmpClient> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await QmpClient.connect({ path }, options);
    } catch (error) {
      const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
      if (cause?.code !== 'ECONNREFUSED' || attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
