import { describe, expect, it } from 'vitest';
import { Progress, progressLine } from './progress.js';

describe('Progress', () => {
  it('formats lines as qemu-img', () => {
    expect(progressLine(0)).toBe('    (0.00/100%)\r');
    expect(progressLine(12.345)).toBe('    (12.35/100%)\r');
    expect(progressLine(100)).toBe('    (100.00/100%)\r');
  });

  it('prints the start, steps of at least one percent and the end', () => {
    let text = '';
    const progress = new Progress((t) => {
      text += t;
    });
    progress.start();
    progress.update(5, 1000);
    progress.update(20, 1000);
    progress.update(25, 1000);
    progress.update(1000, 1000);
    progress.complete();
    progress.end();
    expect(text.split('\r')).toEqual([
      '    (0.00/100%)',
      '    (2.00/100%)',
      '    (100.00/100%)',
      '    (100.00/100%)',
      '\n',
    ]);
  });

  it('prints nothing when disabled', () => {
    const progress = new Progress(null);
    progress.start();
    progress.update(1, 2);
    progress.end();
    expect(true).toBe(true);
  });
});
