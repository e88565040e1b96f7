import { describe, expect, it } from 'vitest';
import { XmlModelError } from '../errors.js';
import { readVector } from '../test-support/corpus.js';
import { formatSnapshotXml, parseSnapshotXml } from './snapshot-xml.js';

// Settings of libvirt 9.0's qemudomainsnapshotxml2xmltest for each vector (see the corpus
// MANIFEST in third_party/libvirt-tests/README.md).
const UUID_A = '9d37b878-a7cc-9f9a-b78f-49b3abad25a8';
const UUID_B = 'c7a5fdbd-edaf-9455-926a-d65c16db1809';

interface InToOut {
  name: string;
  creationTime: number;
  uuid?: string;
  forceRunning?: boolean;
}

const IN_TO_OUT: InToOut[] = [
  { name: 'disk_snapshot', creationTime: 1555419243 },
  { name: 'external_vm', creationTime: 1555419243 },
  { name: 'empty', creationTime: 1386166249, uuid: UUID_A },
  { name: 'noparent', creationTime: 1272917631, uuid: UUID_A, forceRunning: true },
  { name: 'qcow2-metadata-cache', creationTime: 1386166249, uuid: UUID_A },
];

interface OutToOut {
  name: string;
  internal: boolean;
  uuid?: string;
}

const OUT_TO_OUT: OutToOut[] = [
  { name: 'disk_snapshot_redefine', internal: true, uuid: UUID_B },
  { name: 'full_domain', internal: true, uuid: UUID_B },
  { name: 'all_parameters', internal: true, uuid: UUID_A },
  { name: 'metadata', internal: false, uuid: UUID_B },
  { name: 'noparent', internal: false, uuid: UUID_A },
  { name: 'noparent_nodescription', internal: true },
];

describe('libvirt snapshot vectors: create parse (in -> out)', () => {
  for (const vector of IN_TO_OUT) {
    it(`${vector.name} formats byte-identically`, () => {
      const def = parseSnapshotXml(readVector(`qemudomainsnapshotxml2xmlin/${vector.name}.xml`), {
        creationTime: vector.creationTime,
      });
      if (vector.forceRunning) def.state = 'running';
      const out = formatSnapshotXml(def, vector.uuid ? { domainUuid: vector.uuid } : {});
      expect(out).toBe(readVector(`qemudomainsnapshotxml2xmlout/${vector.name}.xml`));
    });
  }
});

describe('libvirt snapshot vectors: redefine parse (out -> out)', () => {
  for (const vector of OUT_TO_OUT) {
    it(`${vector.name} formats back unchanged`, () => {
      const text = readVector(`qemudomainsnapshotxml2xmlout/${vector.name}.xml`);
      const def = parseSnapshotXml(text, { redefine: true, internal: vector.internal });
      const out = formatSnapshotXml(def, {
        internal: vector.internal,
        ...(vector.uuid ? { domainUuid: vector.uuid } : {}),
      });
      expect(out).toBe(text);
    });
  }
});

describe('libvirt snapshot vectors: plain round trip (in -> in)', () => {
  for (const name of ['name_and_description', 'name_only']) {
    it(`${name} formats back unchanged`, () => {
      const text = readVector(`qemudomainsnapshotxml2xmlin/${name}.xml`);
      // The in->in mode of the harness records no creation time.
      const def = parseSnapshotXml(text, { creationTime: 0 });
      expect(formatSnapshotXml(def)).toBe(text);
    });
  }
});

describe('libvirt snapshot vectors: rejected input', () => {
  it('disk-invalid (startupPolicy on a snapshot disk source) is refused with a located message', () => {
    const text = readVector('qemudomainsnapshotxml2xmlin/disk-invalid.xml');
    let error: unknown;
    try {
      parseSnapshotXml(text, { creationTime: 1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(XmlModelError);
    const e = error as XmlModelError;
    expect(e.message).toContain('startupPolicy');
    expect(e.path).toBe('/domainsnapshot/disks[1]/disk[1]/source[1]');
    expect(e.line).toBe(6);
  });
});
