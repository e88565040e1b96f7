import { describe, expect, it } from 'vitest';
import { inTransaction, Transaction } from './transaction.js';

describe('Transaction (registered undo)', () => {
  it('commits and aborts newest first, with every clean after', () => {
    for (const end of ['commit', 'abort'] as const) {
      const log: string[] = [];
      const tran = new Transaction();
      for (const name of ['a', 'b', 'c']) {
        tran.add({
          commit: () => log.push(`commit ${name}`),
          abort: () => log.push(`abort ${name}`),
          clean: () => log.push(`clean ${name}`),
        });
      }
      tran[end]();
      expect(log).toEqual([`${end} c`, `${end} b`, `${end} a`, 'clean c', 'clean b', 'clean a']);
      expect(() => tran.commit()).toThrow('Transaction already finished');
      expect(() => tran.add({})).toThrow('Transaction already finished');
    }
  });

  it('inTransaction aborts its own transaction on error and joins an outer one', () => {
    const state = { value: 0 };
    const step = (tran: Transaction, v: number) => {
      const before = state.value;
      state.value = v;
      tran.add({
        abort: () => {
          state.value = before;
        },
      });
    };
    expect(() =>
      inTransaction(undefined, (t) => {
        step(t, 1);
        step(t, 2);
        throw new Error('fail');
      }),
    ).toThrow('fail');
    expect(state.value).toBe(0);
    const outer = new Transaction();
    inTransaction(outer, (t) => step(t, 5));
    expect(state.value).toBe(5);
    outer.abort();
    expect(state.value).toBe(0);
  });
});
