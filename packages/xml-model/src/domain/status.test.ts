import { describe, expect, it } from 'vitest';
import { readVector } from '../test-support/corpus.js';
import { formatDomainStatusXml, parseDomainStatusXml } from './status.js';

// libvirt 9.0's qemustatusxml2xmltest: status documents whose output equals their input must
// come back byte for byte, private run-time data included.
const SAME = [
  'blockjob-blockdev',
  'modern',
  'backup-pull',
  'migration-in-params',
  'migration-out-nbd-bitmaps',
];

describe('libvirt status documents format back unchanged', () => {
  for (const name of SAME) {
    it(name, () => {
      const text = readVector(`qemustatusxml2xmldata/${name}-in.xml`);
      expect(text).toBe(readVector(`qemustatusxml2xmldata/${name}-out.xml`));
      expect(formatDomainStatusXml(parseDomainStatusXml(text))).toBe(text);
    });
  }

  it('refuses another root element', () => {
    expect(() => parseDomainStatusXml("<domain type='kvm'><name>x</name></domain>")).toThrow(
      'expected root element <domstatus>, found <domain>',
    );
  });
});
