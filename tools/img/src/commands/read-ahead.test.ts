import { describe, expect, it } from 'vitest';
import { ReadAhead } from './read-ahead.js';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ReadAhead', () => {
  it('writes in queue order even when later reads finish first, with reads overlapping', async () => {
    const copier = new ReadAhead(3, 16);
    const written: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    for (let i = 0; i < 6; i++) {
      await copier.add(
        4,
        async (view) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await delay(i % 2 === 0 ? 20 : 1);
          view.fill(i);
          inFlight--;
        },
        async (view) => {
          written.push(view[0] as number);
        },
      );
    }
    await copier.drain();
    expect(written).toEqual([0, 1, 2, 3, 4, 5]);
    expect(maxInFlight).toBeGreaterThan(1);
  });

  it('never hands a buffer to a new read before its write is done', async () => {
    const copier = new ReadAhead(1, 8);
    const seen: string[] = [];
    for (const value of [1, 2, 3]) {
      await copier.add(
        8,
        async (view) => {
          view.fill(value);
        },
        async (view) => {
          await delay(5);
          seen.push(view.join(''));
        },
      );
    }
    await copier.drain();
    expect(seen).toEqual(['11111111', '22222222', '33333333']);
  });
});
