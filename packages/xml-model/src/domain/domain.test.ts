import { describe, expect, it } from 'vitest';
import { formatDomainXml, parseDomainXml } from './domain-xml.js';

describe('domain parts the model types', () => {
  it('normalises memory to KiB, uuids to lower case, and vcpu placement', () => {
    const domain = parseDomainXml(
      "<domain type='kvm'><name>g</name><uuid>C7A5FDBDEDAF9455926AD65C16DB1809</uuid><memory unit='GiB'>1</memory><vcpu>2</vcpu></domain>",
    );
    expect(formatDomainXml(domain)).toBe(
      "<domain type='kvm'>\n  <name>g</name>\n  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n  <memory unit='KiB'>1048576</memory>\n  <vcpu placement='static'>2</vcpu>\n</domain>\n",
    );
  });

  it('ignores the runtime id in the inactive form', () => {
    const xml = "<domain type='kvm' id='7'><name>g</name></domain>";
    expect(parseDomainXml(xml).id).toBeUndefined();
    expect(parseDomainXml(xml, { mode: 'live' }).id).toBe(7);
    expect(formatDomainXml(parseDomainXml(xml, { mode: 'live' }), { mode: 'live' })).toContain(
      "<domain type='kvm' id='7'>",
    );
  });

  it('refuses a domain without type or name, and a malformed uuid', () => {
    expect(() => parseDomainXml('<domain><name>g</name></domain>')).toThrow(/missing domain type attribute/);
    expect(() => parseDomainXml("<domain type='kvm'/>")).toThrow(/missing name information/);
    expect(() => parseDomainXml("<domain type='kvm'><name>g</name><uuid>nope</uuid></domain>")).toThrow(
      /malformed uuid/,
    );
  });
});

describe('everything else is carried through in place and order', () => {
  it('namespaced elements, attributes on the root, mixed content and unknown devices', () => {
    const xml = [
      "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>",
      '  <name>g</name>',
      "  <features>\n    <acpi/>\n    <apic eoi='on'/>\n  </features>",
      '  <devices>',
      "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>",
      "    <disk type='file' device='disk'>\n      <source file='/a'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>",
      "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>",
      '  </devices>',
      "  <qemu:commandline>\n    <qemu:arg value='-snapshot'/>\n  </qemu:commandline>",
      '</domain>',
      '',
    ].join('\n');
    expect(formatDomainXml(parseDomainXml(xml))).toBe(xml);
  });

  it('comments are dropped, as libvirt drops them', () => {
    expect(formatDomainXml(parseDomainXml("<domain type='kvm'><!-- note --><name>g</name></domain>"))).toBe(
      "<domain type='kvm'>\n  <name>g</name>\n</domain>\n",
    );
  });

  it('<metadata> content is written as libvirt writes it (double quotes, libxml2 escaping)', () => {
    const xml =
      "<domain type='kvm'><name>g</name><metadata><app:x xmlns:app='urn:a' v='&quot;1&quot;'>t&amp;</app:x></metadata></domain>";
    expect(formatDomainXml(parseDomainXml(xml))).toContain(
      '  <metadata>\n    <app:x xmlns:app="urn:a" v="&quot;1&quot;">t&amp;</app:x>\n  </metadata>',
    );
  });
});
