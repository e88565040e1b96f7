import { writeDisk } from '../disk/disk-format.js';
import { sortByOrder } from '../disk/order.js';
import type { SourceFormatContext } from '../disk/source-format.js';
import { isRuntimeMode } from '../mode.js';
import type { XmlElement } from '../xml/tree.js';
import type { LibvirtXmlWriter } from '../xml/writer.js';
import type { DomainDef, MemoryAmount, TypedDomainChild } from './types.js';

/** libvirt's order of `<domain>` children, used to place typed parts that have no position yet. */
const DOMAIN_CHILD_ORDER = [
  'name',
  'uuid',
  'genid',
  'title',
  'description',
  'metadata',
  'maxMemory',
  'memory',
  'currentMemory',
  'blkiotune',
  'memtune',
  'memoryBacking',
  'vcpu',
  'vcpus',
  'iothreads',
  'iothreadids',
  'cputune',
  'numatune',
  'resource',
  'sysinfo',
  'bootloader',
  'bootloader_args',
  'os',
  'idmap',
  'features',
  'cpu',
  'clock',
  'on_poweroff',
  'on_reboot',
  'on_crash',
  'on_lockfailure',
  'pm',
  'perf',
  'devices',
  'seclabel',
  'keywrap',
  'launchSecurity',
];

/**
 * Writes a domain. Children keep their document order; typed parts that were set in code
 * without a position are placed where libvirt writes them. The `<metadata>` subtree is written
 * the way libvirt's libxml2 dump writes it (double-quoted attributes).
 */
export function writeDomain(
  w: LibvirtXmlWriter,
  domain: DomainDef,
  ctx: SourceFormatContext,
  rootName = 'domain',
): void {
  const attributes = [
    ['type', domain.type] as const,
    ['id', isRuntimeMode(ctx.mode) ? domain.id : undefined] as const,
    ...domain.extraAttributes,
  ];
  w.element(rootName, attributes, (d) => {
    const items: { name: string; write: () => void }[] = [];
    const placed = new Set<TypedDomainChild>();
    for (const entry of domain.entries) {
      if (entry.kind === 'typed') {
        placed.add(entry.name);
        items.push({ name: entry.name, write: () => writeTyped(d, domain, entry.name, ctx) });
      } else {
        const el = entry.element;
        items.push({
          name: el.name,
          write: () => (el.name === 'metadata' ? writeMetadata(d, el) : d.generic(el)),
        });
      }
    }
    const missing = (
      ['name', 'uuid', 'title', 'description', 'memory', 'currentMemory', 'vcpu', 'os', 'devices'] as const
    ).filter((name) => !placed.has(name) && domain[name] !== undefined);
    if (missing.length === 0) {
      for (const item of items) item.write();
      return;
    }
    const extra = missing.map((name) => ({ name, write: () => writeTyped(d, domain, name, ctx) }));
    for (const item of sortByOrder([...items, ...extra], DOMAIN_CHILD_ORDER)) item.write();
  });
}

function writeMemory(w: LibvirtXmlWriter, name: string, amount: MemoryAmount): void {
  w.textElement(name, amount.kib, [['unit', 'KiB'], ...amount.extraAttributes]);
}

function writeTyped(
  w: LibvirtXmlWriter,
  domain: DomainDef,
  name: TypedDomainChild,
  ctx: SourceFormatContext,
): void {
  switch (name) {
    case 'name':
    case 'uuid':
    case 'title':
    case 'description':
      w.textElement(name, domain[name]);
      return;
    case 'memory':
    case 'currentMemory': {
      const amount = domain[name];
      if (amount) writeMemory(w, name, amount);
      return;
    }
    case 'vcpu':
      if (domain.vcpu) {
        w.textElement('vcpu', domain.vcpu.count, [
          ['placement', domain.vcpu.placement],
          ...domain.vcpu.extraAttributes,
        ]);
      }
      return;
    case 'os': {
      const os = domain.os;
      if (!os) return;
      w.element('os', os.attributes, (o) => {
        o.textElement('type', os.type, os.typeAttributes);
        for (const el of os.extraElements) o.generic(el);
      });
      return;
    }
    case 'devices': {
      const devices = domain.devices;
      if (!devices) return;
      w.element('devices', [], (dv) => {
        for (const entry of devices) {
          if (entry.kind === 'disk') writeDisk(dv, entry.disk, ctx);
          else dv.generic(entry.element);
        }
      });
      return;
    }
  }
}

function writeMetadata(w: LibvirtXmlWriter, el: XmlElement): void {
  w.element(
    'metadata',
    el.attributes,
    (m) => {
      for (const child of el.children) if (child.kind === 'element') m.generic(child, 'libxml2');
    },
    { omitWhenEmpty: true },
  );
}
