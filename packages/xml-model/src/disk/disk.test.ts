import { describe, expect, it } from 'vitest';
import { applyQemuDiskDefaults } from './qemu-defaults.js';
import { formatDiskXml, parseDiskXml } from './disk-xml.js';

function roundTrip(xml: string, mode: 'inactive' | 'live' | 'status' = 'live'): string {
  return formatDiskXml(parseDiskXml(xml, { mode }), { mode });
}

describe('disk sources of every type', () => {
  it('file with startupPolicy and index, in libvirt attribute order', () => {
    const xml =
      "<disk type='file' device='cdrom'>\n  <source index='3' startupPolicy='optional' file='/iso/a.iso'/>\n  <target dev='hdc'/>\n  <readonly/>\n</disk>\n";
    expect(roundTrip(xml)).toBe(
      "<disk type='file' device='cdrom'>\n  <source file='/iso/a.iso' startupPolicy='optional' index='3'/>\n  <target dev='hdc' bus='ide'/>\n  <readonly/>\n</disk>\n",
    );
  });

  it('a cdrom without media has no <source> at all', () => {
    const xml = "<disk type='file' device='cdrom'>\n  <source/>\n  <target dev='sda' bus='sata'/>\n</disk>\n";
    expect(roundTrip(xml)).toBe(
      "<disk type='file' device='cdrom'>\n  <target dev='sda' bus='sata'/>\n</disk>\n",
    );
  });

  it('block, dir and volume sources', () => {
    for (const [type, source] of [
      ['block', "<source dev='/dev/vg/lv'/>"],
      ['dir', "<source dir='/srv/fat'/>"],
      ['volume', "<source pool='default' volume='vm.qcow2' mode='host'/>"],
    ] as const) {
      const xml = `<disk type='${type}' device='disk'>\n  ${source}\n  <target dev='vda' bus='virtio'/>\n</disk>\n`;
      expect(roundTrip(xml)).toBe(xml);
    }
  });

  it('NBD over TCP with TLS and over a UNIX socket with an export name', () => {
    const tcp =
      "<disk type='network' device='disk'>\n  <driver name='qemu' type='raw'/>\n  <source protocol='nbd' name='export' tls='yes'>\n    <host name='nbd.example.org' port='10809'/>\n  </source>\n  <target dev='vda' bus='virtio'/>\n</disk>\n";
    expect(roundTrip(tcp)).toBe(tcp);
    const unix = tcp
      .replace("name='export' tls='yes'", "name='export'")
      .replace(
        "<host name='nbd.example.org' port='10809'/>",
        "<host transport='unix' socket='/run/nbd.sock'/>",
      );
    expect(roundTrip(unix)).toBe(unix);
    const disk = parseDiskXml(unix);
    expect(disk.source.hosts).toEqual([{ transport: 'unix', socket: '/run/nbd.sock' }]);
  });

  it('network attributes libvirt does not type here keep libvirt order (query before tls)', () => {
    const xml =
      "<disk type='network' device='disk'>\n  <source tls='no' query='a=b' name='img' protocol='https'>\n    <host name='h' port='443'/>\n  </source>\n  <target dev='vda' bus='virtio'/>\n</disk>\n";
    expect(roundTrip(xml)).toContain("<source protocol='https' name='img' query='a=b' tls='no'>");
  });

  it('tcp transport and port numbers are normalised as libvirt stores them', () => {
    const xml =
      "<disk type='network'>\n  <source protocol='nbd'>\n    <host name='h' port='0010809' transport='tcp'/>\n  </source>\n  <target dev='vda'/>\n</disk>\n";
    expect(roundTrip(xml)).toContain("<host name='h' port='10809'/>");
  });

  it('nvme with its PCI address and slices', () => {
    const xml =
      "<disk type='nvme' device='disk'>\n  <driver name='qemu' type='raw'/>\n  <source type='pci' managed='no' namespace='1'>\n    <address domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>\n    <slices>\n      <slice type='storage' offset='1234' size='321'/>\n    </slices>\n  </source>\n  <target dev='vdd' bus='virtio'/>\n</disk>\n";
    expect(roundTrip(xml)).toBe(xml);
  });
});

describe('<mirror>', () => {
  it('the pre-1.2.6 form is read and written in the current form', () => {
    const xml =
      "<disk type='file' device='disk'>\n  <source file='/a.img'/>\n  <mirror file='/copy.img' format='qcow2' ready='yes'/>\n  <target dev='vda' bus='virtio'/>\n</disk>\n";
    expect(roundTrip(xml)).toBe(
      "<disk type='file' device='disk'>\n  <source file='/a.img'/>\n  <mirror type='file' file='/copy.img' format='qcow2' job='copy' ready='yes'>\n    <format type='qcow2'/>\n    <source file='/copy.img'/>\n  </mirror>\n  <target dev='vda' bus='virtio'/>\n</disk>\n",
    );
  });

  it('is never part of the inactive form', () => {
    const xml =
      "<disk type='file' device='disk'>\n  <source file='/a.img'/>\n  <mirror type='file' job='copy'>\n    <source file='/b.img'/>\n  </mirror>\n  <target dev='vda' bus='virtio'/>\n</disk>\n";
    const live = parseDiskXml(xml, { mode: 'live' });
    expect(live.mirror?.source.path).toBe('/b.img');
    expect(formatDiskXml(live, { mode: 'inactive' })).not.toContain('mirror');
    expect(parseDiskXml(xml, { mode: 'inactive' }).mirror).toBeUndefined();
  });
});

describe('libvirt details', () => {
  it("snapshot='no' is implied (not written) on a read-only disk", () => {
    const xml =
      "<disk type='file' device='cdrom' snapshot='no'>\n  <source file='/a.iso'/>\n  <target dev='hdc'/>\n  <readonly/>\n</disk>\n";
    expect(roundTrip(xml)).not.toContain('snapshot=');
  });

  it('carried elements are written in libvirt order whatever the input order', () => {
    const xml =
      "<disk type='file'>\n  <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>\n  <serial>S1</serial>\n  <boot order='1'/>\n  <iotune>\n    <total_bytes_sec>1000</total_bytes_sec>\n  </iotune>\n  <target dev='vda'/>\n  <source file='/a'/>\n  <driver name='qemu' io='native' cache='none' type='raw'/>\n</disk>\n";
    expect(roundTrip(xml, 'inactive')).toBe(
      "<disk type='file' device='disk'>\n  <driver name='qemu' type='raw' cache='none' io='native'/>\n  <source file='/a'/>\n  <target dev='vda' bus='virtio'/>\n  <iotune>\n    <total_bytes_sec>1000</total_bytes_sec>\n  </iotune>\n  <serial>S1</serial>\n  <boot order='1'/>\n  <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>\n</disk>\n",
    );
  });

  it('aliases: only user aliases survive the inactive form', () => {
    const xml =
      "<disk type='file'>\n  <source file='/a'/>\n  <target dev='vda'/>\n  <alias name='virtio-disk0'/>\n</disk>\n";
    expect(parseDiskXml(xml, { mode: 'inactive' }).alias).toBeUndefined();
    expect(parseDiskXml(xml, { mode: 'live' }).alias).toBe('virtio-disk0');
    expect(parseDiskXml(xml.replace('virtio-disk0', 'ua-data'), { mode: 'inactive' }).alias).toBe('ua-data');
  });

  it('metadata cache sizes are stored in bytes and written with unit bytes', () => {
    const xml =
      "<disk type='file'>\n  <driver name='qemu' type='qcow2'>\n    <metadata_cache>\n      <max_size unit='MiB'>2</max_size>\n    </metadata_cache>\n  </driver>\n  <source file='/a'/>\n  <target dev='vda'/>\n</disk>\n";
    expect(parseDiskXml(xml).source.metadataCacheMaxSize).toBe(2 * 1024 * 1024);
    expect(roundTrip(xml)).toContain("<max_size unit='bytes'>2097152</max_size>");
    expect(() => parseDiskXml(xml.replace("'MiB'", "'parsecs'"))).toThrow(/unknown suffix 'parsecs'/);
  });

  it('backing images: only the first <backingStore> counts; three meanings are kept apart', () => {
    const base =
      "<disk type='file'>\n  <driver name='qemu' type='qcow2'/>\n  <source file='/top'/>\n  BACKING\n  <target dev='vda'/>\n</disk>\n";
    expect(parseDiskXml(base.replace('BACKING', '')).source.backingStore.kind).toBe('unknown');
    expect(parseDiskXml(base.replace('BACKING', '<backingStore/>')).source.backingStore.kind).toBe('end');
    const explicit = parseDiskXml(
      base.replace(
        'BACKING',
        "<backingStore type='file'><format type='raw'/><source file='/base'/></backingStore><backingStore/>",
      ),
    );
    expect(explicit.source.backingStore.kind).toBe('image');
  });

  it('the QEMU driver defaults do not change the argument', () => {
    const disk = parseDiskXml("<disk type='file'>\n  <source file='/a'/>\n  <target dev='vda'/>\n</disk>\n");
    const withDefaults = applyQemuDiskDefaults(disk);
    expect(withDefaults.source.format).toBe('raw');
    expect(withDefaults.driver?.attributes).toEqual([['name', 'qemu']]);
    expect(disk.source.format).toBeUndefined();
    expect(disk.driver).toBeUndefined();
  });

  it('PCI and drive addresses are written in libvirt canonical form; boot order and serial are typed', () => {
    const xml =
      "<disk type='file'>\n  <source file='/a'/>\n  <target dev='vda'/>\n  <serial>X</serial>\n  <boot loadparm='ab' order='2'/>\n  <address type='pci' slot='5' function='0x1' multifunction='on'/>\n</disk>\n";
    const disk = parseDiskXml(xml);
    expect(disk.serial).toBe('X');
    expect(disk.boot).toEqual({ order: 2, loadparm: 'AB' });
    expect(roundTrip(xml, 'inactive')).toContain(
      "  <boot order='2' loadparm='AB'/>\n  <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x1' multifunction='on'/>\n",
    );
    const drive = xml.replace(
      "<address type='pci' slot='5' function='0x1' multifunction='on'/>",
      "<address type='drive' unit='1' controller='0'/>",
    );
    expect(roundTrip(drive, 'inactive')).toContain(
      "<address type='drive' controller='0' bus='0' target='0' unit='1'/>",
    );
    expect(() => parseDiskXml(xml.replace("slot='5'", "slot='0x20'"))).toThrow(
      /Invalid PCI address slot='0x20'/,
    );
    expect(() => parseDiskXml(xml.replace("order='2'", "order='0'"))).toThrow(/incorrect boot order '0'/);
    expect(() => parseDiskXml(xml.replace('<serial>X</serial>', '<serial>a;b</serial>'))).toThrow(
      /disk serial \(a;b\) contains invalid characters/,
    );
  });
});
