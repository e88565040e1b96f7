import { describe, expect, it } from 'vitest';
import { checkNodeName, isWellFormedId, NodeNameGenerator } from './node-name.js';

describe('node names', () => {
  it('follow QEMU id rules', () => {
    for (const good of ['a', 'src', 'A-1.b_c', 'x'.repeat(31)]) expect(isWellFormedId(good)).toBe(true);
    for (const bad of ['', '1a', '#block1', '-a', 'a b', 'a/b', 'é']) expect(isWellFormedId(bad)).toBe(false);
  });

  it('refuse malformed and too long names with QEMU messages', () => {
    expect(() => checkNodeName('#x')).toThrow("Invalid node-name: '#x'");
    expect(() => checkNodeName('a'.repeat(32))).toThrow('Node name too long');
    expect(() => checkNodeName('a'.repeat(31))).not.toThrow();
  });

  it('generates #block names with a counter and two random digits', () => {
    const values = [0.0, 0.23, 0.999];
    const gen = new NodeNameGenerator(() => values.shift() ?? 0);
    expect([gen.next(), gen.next(), gen.next()]).toEqual(['#block000', '#block123', '#block299']);
    expect(isWellFormedId(gen.next())).toBe(false); // never collides with user names
  });
});
