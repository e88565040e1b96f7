import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyQemuDiskDefaults } from '../disk/qemu-defaults.js';
import { formatDomainXml, parseDomainXml } from '../domain/domain-xml.js';
import type { XmlMode } from '../mode.js';
import { formatSnapshotXml, parseSnapshotXml } from '../snapshot/snapshot-xml.js';
import { domainArbitrary, extensionDiskArbitrary, snapshotArbitrary } from '../test-support/arbitraries.js';
import { readVector } from '../test-support/corpus.js';
import { readExample } from '../test-support/examples.js';
import { type SchemaKind, validateWithSchema } from './xmllint.js';

// Everything Strata formats must validate with xmllint against libvirt 9.0's RelaxNG schemas
// (plus Strata's extension schema for replication/quorum). The test command sets
// STRATA_LIBVIRT_SCHEMAS to the directory holding libvirt's *.rng.
function libvirtSchemas(): string {
  const dir = process.env.STRATA_LIBVIRT_SCHEMAS;
  if (!dir) {
    throw new Error(
      'STRATA_LIBVIRT_SCHEMAS is not set. Get libvirt 9.0 schemas with: ' +
        'apt-get download libvirt0 && dpkg -x libvirt0_*.deb /tmp/libvirt0 && ' +
        'export STRATA_LIBVIRT_SCHEMAS=/tmp/libvirt0/usr/share/libvirt/schemas',
    );
  }
  try {
    execFileSync('xmllint', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('xmllint is missing; install it with: apt-get install -y libxml2-utils');
  }
  return dir;
}

async function expectValid(xml: string, kind: SchemaKind, extensions: boolean): Promise<void> {
  const result = await validateWithSchema(xml, kind, { libvirtSchemas: libvirtSchemas(), extensions });
  expect(result.messages.join('\n') + (result.valid ? '' : `\n${xml}`)).toBe('');
  expect(result.valid).toBe(true);
}

const DOMAIN_INPUTS = [
  'disk-backing-chains-index',
  'disk-mirror',
  'disk-active-commit',
  'disk-metadata-cache',
  'disk-network-nfs',
  'disk-slices',
  'disk-source-fd',
];

describe('Strata-formatted libvirt documents validate against libvirt 9.0 schemas', () => {
  for (const name of DOMAIN_INPUTS) {
    for (const mode of ['inactive', 'live'] as XmlMode[]) {
      it(`${name} formatted in the ${mode} form (with QEMU defaults)`, async () => {
        const domain = parseDomainXml(readVector(`qemuxml2argvdata/${name}.xml`), { mode });
        for (const entry of domain.devices ?? [])
          if (entry.kind === 'disk') entry.disk = applyQemuDiskDefaults(entry.disk);
        await expectValid(formatDomainXml(domain, { mode }), 'domain', false);
      });
    }
  }

  const SNAPSHOTS: { file: string; redefine: boolean; internal: boolean }[] = [
    { file: 'qemudomainsnapshotxml2xmlin/disk_snapshot.xml', redefine: false, internal: false },
    { file: 'qemudomainsnapshotxml2xmlin/external_vm.xml', redefine: false, internal: false },
    { file: 'qemudomainsnapshotxml2xmlin/qcow2-metadata-cache.xml', redefine: false, internal: false },
    { file: 'qemudomainsnapshotxml2xmlout/disk_snapshot_redefine.xml', redefine: true, internal: true },
    { file: 'qemudomainsnapshotxml2xmlout/full_domain.xml', redefine: true, internal: true },
    { file: 'qemudomainsnapshotxml2xmlout/metadata.xml', redefine: true, internal: false },
  ];
  for (const s of SNAPSHOTS) {
    it(`snapshot ${s.file}`, async () => {
      const def = parseSnapshotXml(readVector(s.file), {
        redefine: s.redefine,
        internal: s.internal,
        creationTime: 1555419243,
      });
      await expectValid(formatSnapshotXml(def, { internal: s.internal }), 'domainsnapshot', false);
    });
  }

  it('random domains in every form', async () => {
    const samples = fc.sample(
      fc.tuple(domainArbitrary('live'), fc.constantFrom<XmlMode>('inactive', 'live')),
      { numRuns: 12, seed: 4242 },
    );
    for (const [domain, mode] of samples)
      await expectValid(formatDomainXml(domain, { mode }), 'domain', false);
  });

  it('random snapshots (including Strata snapshot-disk mirrors, with the extension schema)', async () => {
    for (const snapshot of fc.sample(snapshotArbitrary(), { numRuns: 12, seed: 4343 })) {
      const xml = formatSnapshotXml(snapshot, { domainUuid: '9d37b878-a7cc-9f9a-b78f-49b3abad25a8' });
      await expectValid(xml, 'domainsnapshot', true);
      // libvirt's own grammar knows neither mirrors nor a <driver> on a network overlay.
      const strataOnly = snapshot.disks.some(
        (d) => d.mirror || (d.source.type === 'network' && d.source.format),
      );
      if (!strataOnly) await expectValid(xml, 'domainsnapshot', false);
    }
  });
});

describe("Strata's replication/quorum documents validate against the extension schema", () => {
  it('random replication and quorum disks inside a domain', async () => {
    const samples = fc.sample(fc.tuple(domainArbitrary('inactive'), extensionDiskArbitrary('vdz')), {
      numRuns: 10,
      seed: 4444,
    });
    for (const [domain, disk] of samples) {
      domain.devices = [...(domain.devices ?? []), { kind: 'disk', disk }];
      await expectValid(formatDomainXml(domain), 'domain', true);
    }
  });

  for (const example of ['colo-primary.xml', 'colo-secondary.xml']) {
    it(`${example} as formatted validates with the extension and fails libvirt's own schema`, async () => {
      const xml = formatDomainXml(parseDomainXml(readExample(example)));
      await expectValid(xml, 'domain', true);
      const plain = await validateWithSchema(xml, 'domain', {
        libvirtSchemas: libvirtSchemas(),
        extensions: false,
      });
      expect(plain.valid).toBe(false);
    });
  }

  it('an external snapshot disk mirrored to a destination (live storage migration)', async () => {
    const xml = readExample('migration-snapshot.xml');
    const formatted = formatSnapshotXml(parseSnapshotXml(xml, { creationTime: 1700000000 }));
    await expectValid(formatted, 'domainsnapshot', true);
    expect(
      (
        await validateWithSchema(formatted, 'domainsnapshot', {
          libvirtSchemas: libvirtSchemas(),
          extensions: false,
        })
      ).valid,
    ).toBe(false);
  });
});

describe('schema-negative vectors fail', () => {
  it('disk-invalid.xml (startupPolicy on a snapshot source) fails domainsnapshot.rng', async () => {
    const result = await validateWithSchema(
      readVector('qemudomainsnapshotxml2xmlin/disk-invalid.xml'),
      'domainsnapshot',
      {
        libvirtSchemas: libvirtSchemas(),
        extensions: true,
      },
    );
    expect(result.valid).toBe(false);
    expect(result.messages.join('\n')).toContain('document:4');
  });
});
