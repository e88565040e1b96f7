import { describe, expect, it } from 'vitest';
import { applyQemuDiskDefaults } from '../disk/qemu-defaults.js';
import { writeDisk } from '../disk/disk-format.js';
import type { XmlMode } from '../mode.js';
import { diskBlocks, readVector, withoutDiskChild } from '../test-support/corpus.js';
import { LibvirtXmlWriter } from '../xml/writer.js';
import { domainDisks } from './disks.js';
import { formatDomainXml, parseDomainXml } from './domain-xml.js';

// libvirt 9.0's qemuxml2xmltest parses qemuxml2argvdata/<name>.xml and formats it in the active
// (live) and inactive forms. Its QEMU driver post-parse step adds `<driver name='qemu'>`, a raw
// format where none was given, and the LUKS encryption engine; applyQemuDiskDefaults does the
// same. The driver also assigns PCI/drive addresses and aliases to devices that had none: those
// are left out of the comparison (only for disks whose input had no <address>/<alias>), because
// Strata's model does not allocate guest addresses.
interface DomainVector {
  input: string;
  outputs: { mode: XmlMode; file: string }[];
}

const VECTORS: DomainVector[] = [
  {
    input: 'disk-backing-chains-index',
    outputs: [
      { mode: 'live', file: 'disk-backing-chains-index-active.xml' },
      { mode: 'inactive', file: 'disk-backing-chains-index-inactive.xml' },
    ],
  },
  {
    input: 'disk-mirror',
    outputs: [
      { mode: 'live', file: 'disk-mirror-active.xml' },
      { mode: 'inactive', file: 'disk-mirror-inactive.xml' },
    ],
  },
  {
    input: 'disk-active-commit',
    outputs: [
      { mode: 'live', file: 'disk-active-commit-active.xml' },
      { mode: 'inactive', file: 'disk-active-commit-inactive.xml' },
    ],
  },
  {
    input: 'disk-metadata-cache',
    outputs: [
      { mode: 'live', file: 'disk-metadata-cache.x86_64-latest.xml' },
      { mode: 'inactive', file: 'disk-metadata-cache.x86_64-latest.xml' },
    ],
  },
  {
    input: 'disk-network-nfs',
    outputs: [
      { mode: 'live', file: 'disk-network-nfs.x86_64-latest.xml' },
      { mode: 'inactive', file: 'disk-network-nfs-inactive.x86_64-latest.xml' },
    ],
  },
  {
    input: 'disk-slices',
    outputs: [
      { mode: 'live', file: 'disk-slices.x86_64-latest.xml' },
      { mode: 'inactive', file: 'disk-slices.x86_64-latest.xml' },
    ],
  },
  {
    input: 'disk-source-fd',
    outputs: [
      { mode: 'live', file: 'disk-source-fd.x86_64-latest.xml' },
      { mode: 'inactive', file: 'disk-source-fd.x86_64-latest.xml' },
    ],
  },
];

function formattedDisks(xml: string, mode: XmlMode): string[] {
  const domain = parseDomainXml(xml, { mode });
  return domainDisks(domain).map((disk) => {
    const w = new LibvirtXmlWriter();
    writeDisk(w, applyQemuDiskDefaults(disk), { mode });
    return w.toString();
  });
}

describe('libvirt domain vectors: every <disk> formats as libvirt writes it', () => {
  for (const vector of VECTORS) {
    for (const output of vector.outputs) {
      it(`${vector.input} (${output.mode}) matches ${output.file}`, () => {
        const input = readVector(`qemuxml2argvdata/${vector.input}.xml`);
        const inputBlocks = diskBlocks(input);
        const expected = diskBlocks(readVector(`qemuxml2xmloutdata/${output.file}`));
        const actual = formattedDisks(input, output.mode);
        expect(actual.length).toBe(expected.length);
        expected.forEach((block, i) => {
          let want = block;
          // Driver-assigned data the model does not invent (see the note at the top).
          if (!/\n {2}<address /.test(inputBlocks[i]!)) want = withoutDiskChild(want, 'address');
          if (!/\n {2}<alias /.test(inputBlocks[i]!)) want = withoutDiskChild(want, 'alias');
          expect(actual[i]).toBe(want);
        });
      });
    }
  }
});

// libvirt 9.0's qemustatusxml2xmltest: a status document parsed and formatted with the status
// flags must come back unchanged. Every disk of each vector is compared, including <mirror> and
// <privateData>. `upgrade` is left out: its output differs from its input by secret aliases the
// QEMU driver allocates when it reconnects, which is driver state, not XML formatting.
const STATUS_VECTORS = [
  'blockjob-blockdev',
  'modern',
  'backup-pull',
  'migration-out-nbd',
  'migration-in-params',
  'migration-out-nbd-bitmaps',
];

describe('libvirt status vectors: every <disk> formats back as libvirt writes it', () => {
  for (const name of STATUS_VECTORS) {
    it(`${name}`, () => {
      const input = readVector(`qemustatusxml2xmldata/${name}-in.xml`);
      const output = readVector(`qemustatusxml2xmldata/${name}-out.xml`);
      // Only the disks of the embedded <domain>; <blockjobs> has <disk> elements of its own.
      const expected = diskBlocks(output.slice(output.indexOf('<domain ')));
      const actual = formattedDisks(input, 'status');
      expect(actual.length).toBeGreaterThan(0);
      expect(actual).toEqual(expected);
    });
  }
});

// libvirt's own output is a fixed point of its formatter: parsing an expected output file in its
// form and formatting it again must give the same bytes, including every element the model
// carries without typing (controllers, inputs, memballoon, cpu, ...).
const OUTPUT_FILES: { file: string; mode: XmlMode }[] = [
  { file: 'disk-active-commit-active.xml', mode: 'live' },
  { file: 'disk-active-commit-inactive.xml', mode: 'inactive' },
  { file: 'disk-backing-chains-index-active.xml', mode: 'live' },
  { file: 'disk-backing-chains-index-inactive.xml', mode: 'inactive' },
  { file: 'disk-metadata-cache.x86_64-latest.xml', mode: 'inactive' },
  { file: 'disk-mirror-active.xml', mode: 'live' },
  { file: 'disk-mirror-inactive.xml', mode: 'inactive' },
  { file: 'disk-network-nfs-inactive.x86_64-latest.xml', mode: 'inactive' },
  { file: 'disk-network-nfs.x86_64-latest.xml', mode: 'live' },
  { file: 'disk-slices.x86_64-latest.xml', mode: 'inactive' },
  { file: 'disk-source-fd.x86_64-latest.xml', mode: 'inactive' },
];

describe('libvirt domain outputs: whole documents are a fixed point', () => {
  for (const { file, mode } of OUTPUT_FILES) {
    it(`${file} (${mode}) formats back unchanged`, () => {
      const text = readVector(`qemuxml2xmloutdata/${file}`);
      expect(formatDomainXml(parseDomainXml(text, { mode }), { mode })).toBe(text);
    });
  }
});
