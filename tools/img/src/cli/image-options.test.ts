import { describe, expect, it } from 'vitest';
import { parseImageOptions } from './image-options.js';

describe('parseImageOptions', () => {
  it('splits on commas, joins several -o and unescapes doubled commas', () => {
    const { values, help } = parseImageOptions(['cluster_size=4k,lazy_refcounts=on', 'backing_file=a,,b']);
    expect(help).toBe(false);
    expect([...values]).toEqual([
      ['cluster_size', '4k'],
      ['lazy_refcounts', 'on'],
      ['backing_file', 'a,b'],
    ]);
  });

  it('recognises a help request', () => {
    expect(parseImageOptions(['help']).help).toBe(true);
    expect(parseImageOptions(['?']).help).toBe(true);
  });

  it('refuses an item without a value', () => {
    expect(() => parseImageOptions(['cluster_size'])).toThrow(/Invalid option list/);
  });
});
