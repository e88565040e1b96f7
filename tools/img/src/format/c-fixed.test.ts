import { describe, expect, it } from 'vitest';
import { cFixed } from './c-fixed.js';

describe('cFixed', () => {
  it('rounds exact binary ties to even, like glibc printf', () => {
    expect(cFixed(1.0625, 3)).toBe('1.062');
    expect(cFixed(1.0635, 3)).toBe((1.0635).toFixed(3));
    expect(cFixed(0.125, 2)).toBe('0.12');
    expect(cFixed(0.375, 2)).toBe('0.38');
    expect(cFixed(2.5, 0)).toBe('2');
    expect(cFixed(0.1, 2)).toBe('0.10');
    expect(cFixed(100, 2)).toBe('100.00');
  });
});
