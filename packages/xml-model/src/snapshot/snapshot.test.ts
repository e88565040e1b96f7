import { describe, expect, it } from 'vitest';
import { XmlModelError } from '../errors.js';
import { formatSnapshotXml, parseSnapshotXml } from './snapshot-xml.js';

function refusal(run: () => unknown): XmlModelError {
  try {
    run();
  } catch (error) {
    if (error instanceof XmlModelError) return error;
    throw error;
  }
  throw new Error('expected the document to be refused');
}

describe('snapshot create parsing (not redefine)', () => {
  it('ignores state, parent, creationTime and domain, and names the snapshot after its creation time', () => {
    const def = parseSnapshotXml(
      "<domainsnapshot><state>paused</state><parent><name>p</name></parent><creationTime>5</creationTime><domain type='kvm'><name>x</name></domain></domainsnapshot>",
      { creationTime: 1700000000 },
    );
    expect(def).toEqual({ name: '1700000000', creationTime: 1700000000, disks: [] });
  });

  it('infers external for a disk that names a file or a format', () => {
    const def = parseSnapshotXml(
      "<domainsnapshot><disks><disk name='vda'><source file='/new.qcow2'/></disk><disk name='vdb'><driver type='qcow2'/></disk><disk name='vdc'/></disks></domainsnapshot>",
      { creationTime: 1 },
    );
    expect(def.disks.map((d) => d.snapshot)).toEqual(['external', 'external', undefined]);
  });

  it('memory: a file implies external; external needs a file; paths are absolute', () => {
    expect(
      parseSnapshotXml("<domainsnapshot><memory file='/m'/></domainsnapshot>", { creationTime: 1 }).memory,
    ).toEqual({
      snapshot: 'external',
      file: '/m',
    });
    expect(
      refusal(() => parseSnapshotXml("<domainsnapshot><memory snapshot='external'/></domainsnapshot>"))
        .detail,
    ).toBe('external memory snapshots require a filename');
    expect(
      refusal(() =>
        parseSnapshotXml("<domainsnapshot><memory snapshot='internal' file='/m'/></domainsnapshot>"),
      ).detail,
    ).toBe("memory filename '/m' requires external snapshot");
    expect(
      refusal(() => parseSnapshotXml("<domainsnapshot><memory file='m'/></domainsnapshot>")).detail,
    ).toBe("memory snapshot file path 'm' must be absolute");
    expect(
      refusal(() => parseSnapshotXml("<domainsnapshot><memory snapshot='manual'/></domainsnapshot>")).detail,
    ).toBe("unknown memory snapshot setting 'manual'");
  });

  it('refuses relative overlay paths, volume disks and a missing disk name', () => {
    expect(
      refusal(() =>
        parseSnapshotXml(
          "<domainsnapshot><disks><disk name='vda'><source file='x.qcow2'/></disk></disks></domainsnapshot>",
        ),
      ).detail,
    ).toBe("disk snapshot image path 'x.qcow2' must be absolute");
    expect(
      refusal(() =>
        parseSnapshotXml("<domainsnapshot><disks><disk name='vda' type='volume'/></disks></domainsnapshot>"),
      ).detail,
    ).toBe("unsupported disk snapshot type 'volume'");
    expect(
      refusal(() => parseSnapshotXml('<domainsnapshot><disks><disk/></disks></domainsnapshot>')).detail,
    ).toBe('missing name from disk snapshot element');
  });

  it('refuses a document whose root is not <domainsnapshot>', () => {
    expect(refusal(() => parseSnapshotXml('<snapshot/>')).detail).toBe(
      'unexpected root element <snapshot>, expecting <domainsnapshot>',
    );
  });
});

describe('snapshot redefine parsing', () => {
  const full =
    '<domainsnapshot><name>s</name><state>shutoff</state><creationTime>7</creationTime></domainsnapshot>';

  it('requires name, creationTime and a known state', () => {
    expect(
      refusal(() => parseSnapshotXml(full.replace('<name>s</name>', ''), { redefine: true })).detail,
    ).toBe('a redefined snapshot must have a name');
    expect(
      refusal(() => parseSnapshotXml(full.replace('<creationTime>7</creationTime>', ''), { redefine: true }))
        .detail,
    ).toBe('missing creationTime from existing snapshot');
    expect(
      refusal(() => parseSnapshotXml(full.replace('shutoff', 'asleep'), { redefine: true })).detail,
    ).toBe("Invalid state 'asleep' in domain snapshot XML");
  });

  it('defaults memory from the state and refuses memory for offline snapshots', () => {
    expect(parseSnapshotXml(full, { redefine: true }).memory).toEqual({ snapshot: 'no' });
    expect(parseSnapshotXml(full.replace('shutoff', 'running'), { redefine: true }).memory).toEqual({
      snapshot: 'internal',
    });
    expect(
      refusal(() =>
        parseSnapshotXml(full.replace('</creationTime>', "</creationTime><memory snapshot='internal'/>"), {
          redefine: true,
        }),
      ).detail,
    ).toBe('memory state cannot be saved with offline or disk-only snapshot');
  });

  it('the internal form needs <active>', () => {
    expect(refusal(() => parseSnapshotXml(full, { redefine: true, internal: true })).detail).toBe(
      "Could not find 'active' element",
    );
  });
});

describe("Strata's mirrored snapshot disk", () => {
  const xml =
    "<domainsnapshot>\n  <name>m</name>\n  <disks>\n    <disk name='vda' snapshot='external' type='file'>\n      <driver type='qcow2'/>\n      <source file='/src/o.qcow2'/>\n      <mirror type='file'>\n        <format type='qcow2'/>\n        <source file='/dst/o.qcow2'/>\n      </mirror>\n    </disk>\n  </disks>\n</domainsnapshot>\n";

  it('round-trips', () => {
    const def = parseSnapshotXml(xml, { creationTime: 9 });
    expect(def.disks[0]?.mirror?.path).toBe('/dst/o.qcow2');
    expect(formatSnapshotXml(def)).toBe(
      xml.replace('  <disks>', '  <creationTime>9</creationTime>\n  <disks>'),
    );
  });

  it('needs an explicit format and an external disk, and is refused without extensions', () => {
    expect(() => parseSnapshotXml(xml.replace("<format type='qcow2'/>", ''))).toThrow(
      /formats are never probed/,
    );
    expect(() =>
      parseSnapshotXml(xml.replace("snapshot='external' type='file'", "snapshot='internal'")),
    ).toThrow(/only an external snapshot disk can be mirrored/);
    expect(() => parseSnapshotXml(xml, { extensions: false })).toThrow(/Strata extension/);
  });
});
