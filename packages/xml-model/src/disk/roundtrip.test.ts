import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDomainXml, parseDomainXml } from '../domain/domain-xml.js';
import { formatSnapshotXml, parseSnapshotXml } from '../snapshot/snapshot-xml.js';
import {
  diskArbitrary,
  domainArbitrary,
  extensionDiskArbitrary,
  snapshotArbitrary,
} from '../test-support/arbitraries.js';
import { formatDiskXml, parseDiskXml } from './disk-xml.js';

describe('parse(format(model)) equals the model', () => {
  for (const mode of ['inactive', 'live', 'status'] as const) {
    it(`disks in the ${mode} form`, () => {
      fc.assert(
        fc.property(diskArbitrary(mode, 'vda'), (disk) => {
          expect(parseDiskXml(formatDiskXml(disk, { mode }), { mode })).toEqual(disk);
        }),
        { numRuns: 300 },
      );
    });

    it(`domains in the ${mode} form`, () => {
      fc.assert(
        fc.property(domainArbitrary(mode), (domain) => {
          expect(parseDomainXml(formatDomainXml(domain, { mode }), { mode })).toEqual(domain);
        }),
        { numRuns: 150 },
      );
    });
  }

  for (const mode of ['inactive', 'live'] as const) {
    it(`replication and quorum disks in the ${mode} form`, () => {
      fc.assert(
        fc.property(extensionDiskArbitrary('vda'), (disk) => {
          expect(parseDiskXml(formatDiskXml(disk, { mode }), { mode })).toEqual(disk);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('snapshots (redefine, internal form)', () => {
    fc.assert(
      fc.property(snapshotArbitrary(), (snapshot) => {
        const text = formatSnapshotXml(snapshot, { internal: true });
        expect(parseSnapshotXml(text, { redefine: true, internal: true })).toEqual(snapshot);
      }),
      { numRuns: 300 },
    );
  });

  it('formatting is a fixed point: format(parse(format(model))) equals format(model)', () => {
    fc.assert(
      fc.property(domainArbitrary('live'), (domain) => {
        const once = formatDomainXml(domain, { mode: 'live' });
        expect(formatDomainXml(parseDomainXml(once, { mode: 'live' }), { mode: 'live' })).toBe(once);
      }),
      { numRuns: 100 },
    );
  });
});
