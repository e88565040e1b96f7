import { describe, expect, it } from 'vitest';
import { parseDomainXml } from '../domain/domain-xml.js';
import { alignSnapshotDisks } from './align.js';
import { parseSnapshotXml } from './snapshot-xml.js';

const DOMAIN = parseDomainXml(`<domain type='kvm'>
  <name>g</name>
  <devices>
    <disk type='file'><driver name='qemu' type='qcow2'/><source file='/img/root.qcow2'/><target dev='vda'/></disk>
    <disk type='file' snapshot='no'><source file='/img/scratch.raw'/><target dev='vdb'/></disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
    <disk type='block'><source dev='/dev/vg/data'/><target dev='vdc'/></disk>
  </devices>
</domain>`);

function snapshot(disks: string): ReturnType<typeof parseSnapshotXml> {
  return parseSnapshotXml(`<domainsnapshot><name>s1</name><disks>${disks}</disks></domainsnapshot>`, {
    creationTime: 1,
  });
}

describe('aligning a snapshot request with the domain disks', () => {
  it('expands to every disk in domain order with inherited settings and generated names', () => {
    const aligned = alignSnapshotDisks(
      snapshot(
        "<disk name='/dev/vg/data' snapshot='external' type='block'><source dev='/dev/vg/data-s1'/></disk>",
      ),
      DOMAIN,
      { defaultLocation: 'external' },
    );
    expect(aligned.disks.map((d) => [d.name, d.snapshot, d.source.path])).toEqual([
      ['vda', 'external', '/img/root.s1'],
      ['vdb', 'no', undefined],
      ['sda', 'no', undefined],
      ['vdc', 'external', '/dev/vg/data-s1'],
    ]);
  });

  it('refuses unknown and repeated disks', () => {
    expect(() =>
      alignSnapshotDisks(snapshot("<disk name='vdz'/>"), DOMAIN, { defaultLocation: 'internal' }),
    ).toThrow("no disk named 'vdz'");
    expect(() =>
      alignSnapshotDisks(snapshot("<disk name='vda'/><disk name='/img/root.qcow2'/>"), DOMAIN, {
        defaultLocation: 'internal',
      }),
    ).toThrow("disk '/img/root.qcow2' specified twice");
  });

  it('refuses a file for a non-external disk and names it cannot generate', () => {
    expect(() =>
      alignSnapshotDisks(
        snapshot("<disk name='vda' snapshot='internal'><source file='/x'/></disk>"),
        DOMAIN,
        {
          defaultLocation: 'internal',
        },
      ),
    ).toThrow("file '/x' for disk 'vda' requires use of external snapshot mode");
    expect(() =>
      alignSnapshotDisks(snapshot("<disk name='vdc' snapshot='external'/>"), DOMAIN, {
        defaultLocation: 'internal',
      }),
    ).toThrow("cannot generate external snapshot name for disk 'vdc' on a 'block' device");
  });

  it('refuses two generated names that collide', () => {
    const twins = parseDomainXml(`<domain type='kvm'><name>t</name><devices>
      <disk type='file'><source file='/img/a.qcow2'/><target dev='vda'/></disk>
      <disk type='file'><source file='/img/a.raw'/><target dev='vdb'/></disk>
    </devices></domain>`);
    expect(() => alignSnapshotDisks(snapshot(''), twins, { defaultLocation: 'external' })).toThrow(
      "cannot generate external snapshot name for disk 'vdb': collision with disk 'vda'",
    );
  });
});
