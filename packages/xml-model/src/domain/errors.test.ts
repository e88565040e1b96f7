import { describe, expect, it } from 'vitest';
import { parseDiskXml } from '../disk/disk-xml.js';
import { XmlModelError } from '../errors.js';
import { readVector } from '../test-support/corpus.js';
import { parseDomainXml } from './domain-xml.js';

function refusal(run: () => unknown): XmlModelError {
  try {
    run();
  } catch (error) {
    if (error instanceof XmlModelError) return error;
    throw error;
  }
  throw new Error('expected the document to be refused');
}

const DOMAIN = (disk: string): string =>
  `<domain type='kvm'>\n  <name>d</name>\n  <devices>\n${disk}\n  </devices>\n</domain>\n`;

describe('documents libvirt refuses are refused with a located, libvirt-worded message', () => {
  const cases: { what: string; disk: string; message: string; path: string; line: number }[] = [
    {
      what: 'typed backingStore without format',
      disk: "    <disk type='file'>\n      <source file='/a'/>\n      <backingStore type='file'>\n        <source file='/b'/>\n      </backingStore>\n      <target dev='vda'/>\n    </disk>",
      message: 'missing disk backing store format',
      path: '/domain/devices[1]/disk[1]/backingStore[1]',
      line: 6,
    },
    {
      what: 'typed backingStore without source',
      disk: "    <disk type='file'>\n      <source file='/a'/>\n      <backingStore type='file'>\n        <format type='qcow2'/>\n      </backingStore>\n      <target dev='vda'/>\n    </disk>",
      message: 'missing disk backing store source',
      path: '/domain/devices[1]/disk[1]/backingStore[1]',
      line: 6,
    },
    {
      what: 'unknown disk type',
      disk: "    <disk type='floppyish'>\n      <target dev='vda'/>\n    </disk>",
      message: "unknown storage source type 'floppyish'",
      path: '/domain/devices[1]/disk[1]',
      line: 4,
    },
    {
      what: 'unknown image format',
      disk: "    <disk type='file'>\n      <driver name='qemu' type='qcow3'/>\n      <source file='/a'/>\n      <target dev='vda'/>\n    </disk>",
      message: "unknown driver format value 'qcow3'",
      path: '/domain/devices[1]/disk[1]/driver[1]',
      line: 5,
    },
    {
      what: 'unknown cache mode',
      disk: "    <disk type='file'>\n      <driver name='qemu' cache='fast'/>\n      <source file='/a'/>\n      <target dev='vda'/>\n    </disk>",
      message: "unknown disk cache 'fast'",
      path: '/domain/devices[1]/disk[1]/driver[1]',
      line: 5,
    },
    {
      what: 'network source without protocol',
      disk: "    <disk type='network'>\n      <source name='x'/>\n      <target dev='vda'/>\n    </disk>",
      message: 'missing network source protocol type',
      path: '/domain/devices[1]/disk[1]/source[1]',
      line: 5,
    },
    {
      what: 'unix host without socket',
      disk: "    <disk type='network'>\n      <source protocol='nbd'>\n        <host transport='unix'/>\n      </source>\n      <target dev='vda'/>\n    </disk>",
      message: 'missing socket for unix transport',
      path: '/domain/devices[1]/disk[1]/source[1]/host[1]',
      line: 6,
    },
    {
      what: 'disk without target',
      disk: "    <disk type='file'>\n      <source file='/a'/>\n    </disk>",
      message: 'missing target information for device /a',
      path: '/domain/devices[1]/disk[1]',
      line: 4,
    },
    {
      what: 'unknown bus',
      disk: "    <disk type='file'>\n      <source file='/a'/>\n      <target dev='vda' bus='pcie'/>\n    </disk>",
      message: "unknown disk bus type 'pcie'",
      path: '/domain/devices[1]/disk[1]/target[1]',
      line: 6,
    },
    {
      what: 'mirror without type for active commit',
      disk: "    <disk type='file'>\n      <source file='/a'/>\n      <mirror file='/b' job='active-commit'/>\n      <target dev='vda'/>\n    </disk>",
      message: 'mirror without type only supported by copy job',
      path: '/domain/devices[1]/disk[1]/mirror[1]',
      line: 6,
    },
    {
      what: 'unknown mirror ready state',
      disk: "    <disk type='file'>\n      <source file='/a'/>\n      <mirror type='file' job='copy' ready='maybe'>\n        <source file='/b'/>\n      </mirror>\n      <target dev='vda'/>\n    </disk>",
      message: "unknown mirror ready state 'maybe'",
      path: '/domain/devices[1]/disk[1]/mirror[1]',
      line: 6,
    },
    {
      what: 'zero index',
      disk: "    <disk type='file'>\n      <source file='/a' index='0'/>\n      <target dev='vda'/>\n    </disk>",
      message: "invalid disk index '0'",
      path: '/domain/devices[1]/disk[1]/source[1]',
      line: 5,
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const e = refusal(() => parseDomainXml(DOMAIN(c.disk), { mode: 'live' }));
      expect(e.detail).toBe(c.message);
      expect(e.path).toBe(c.path);
      expect(e.line).toBe(c.line);
      expect(e.message.startsWith(`line ${c.line}: ${c.path}: `)).toBe(true);
    });
  }

  it('the schema-invalid imagecreate vector (an ssh disk source) is refused', () => {
    // libvirt's block tests read this <disk> as a bare storage source (no <target> needed);
    // what makes it invalid is protocol 'ssh', which libvirt 9.0's domain schema does not know.
    const text = readVector('qemublocktestdata/imagecreate/network-ssh-qcow2-invalid.xml');
    const e = refusal(() => parseDiskXml(text, { mode: 'status', sourceOnly: true }));
    expect(e.detail).toBe("network protocol 'ssh' is not accepted by libvirt 9.0's domain schema");
    expect(e.path).toBe('/disk/source[1]');
    expect(e.line).toBe(3);
    // The same document with a protocol the schema knows is accepted as a source-only disk.
    expect(
      parseDiskXml(text.replace("'ssh'", "'rbd'"), { mode: 'status', sourceOnly: true }).source.protocol,
    ).toBe('rbd');
    // ... but a guest disk still needs a target.
    expect(refusal(() => parseDiskXml(text.replace("'ssh'", "'rbd'"))).libvirtCode).toBe('VIR_ERR_NO_TARGET');
  });

  it('inactive parses ignore runtime-only data instead of refusing it', () => {
    const xml = DOMAIN(
      "    <disk type='file'>\n      <source file='/a' index='0'/>\n      <mirror job='bogus'/>\n      <target dev='vda'/>\n    </disk>",
    );
    const domain = parseDomainXml(xml, { mode: 'inactive' });
    const entry = domain.devices?.[0];
    expect(entry?.kind === 'disk' && entry.disk.mirror).toBe(undefined);
  });
});
