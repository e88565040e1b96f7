import { describe, expect, it } from 'vitest';
import { AsyncRwLock } from './async-lock.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('AsyncRwLock', () => {
  it('lets readers share and keeps a writer alone, in arrival order', async () => {
    const lock = new AsyncRwLock();
    const log: string[] = [];
    const gate = deferred();
    const r1 = lock.shared(async () => {
      log.push('r1 start');
      await gate.promise;
      log.push('r1 end');
    });
    const r2 = lock.shared(async () => {
      log.push('r2 start');
      await gate.promise;
      log.push('r2 end');
    });
    const w = lock.exclusive(async () => {
      log.push('w');
    });
    const r3 = lock.shared(async () => {
      log.push('r3');
    });
    await Promise.resolve();
    expect(log).toEqual(['r1 start', 'r2 start']);
    gate.resolve();
    await Promise.all([r1, r2, w, r3]);
    expect(log).toEqual(['r1 start', 'r2 start', 'r1 end', 'r2 end', 'w', 'r3']);
  });

  it('releases the lock when the holder throws', async () => {
    const lock = new AsyncRwLock();
    await expect(lock.exclusive(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.exclusive(async () => 42)).toBe(42);
  });
});
