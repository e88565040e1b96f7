import { parseDiskElement } from '../disk/disk-parse.js';
import { sortAttributes } from '../disk/order.js';
import { parseScaledBytes } from '../disk/scaled.js';
import type { SourceParseContext } from '../disk/source-parse.js';
import { isRuntimeMode } from '../mode.js';
import { errorAt, parseUnsigned } from '../xml/fail.js';
import { attr, childElements, textContent, type XmlElement } from '../xml/tree.js';
import type { DeviceEntry, DomainDef, MemoryAmount, OsDef, TypedDomainChild } from './types.js';

const UUID_PATTERN = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;
const SIMPLE_TEXT: readonly TypedDomainChild[] = ['name', 'uuid', 'title', 'description'];

/** Parses a `<domain>` element (or an element of the same shape, like `<inactiveDomain>`). */
export function parseDomainElement(el: XmlElement, ctx: SourceParseContext): DomainDef {
  const type = attr(el, 'type');
  if (type === undefined) throw errorAt(el, 'missing domain type attribute', 'missing', 'VIR_ERR_XML_ERROR');
  const domain: DomainDef = { type, extraAttributes: [], entries: [] };
  const id = attr(el, 'id');
  if (id !== undefined && isRuntimeMode(ctx.mode)) domain.id = parseUnsigned(el, id, 'domain id');
  for (const [name, value] of el.attributes)
    if (name !== 'type' && name !== 'id') domain.extraAttributes.push([name, value]);
  const seen = new Set<string>();
  for (const child of childElements(el)) {
    const name = child.name as TypedDomainChild;
    const typed = parseTypedChild(child, domain, ctx);
    if (typed && !seen.has(name)) {
      seen.add(name);
      domain.entries.push({ kind: 'typed', name });
    } else if (typed) {
      throw errorAt(child, `element <${child.name}> may appear only once`, 'invalid-value');
    } else {
      domain.entries.push({ kind: 'other', element: child });
    }
  }
  if (domain.name === undefined)
    throw errorAt(el, 'missing name information', 'missing', 'VIR_ERR_NO_TARGET');
  if (domain.uuid !== undefined) {
    if (!UUID_PATTERN.test(domain.uuid)) throw errorAt(el, `malformed uuid element`, 'invalid-value');
    domain.uuid = canonicalUuid(domain.uuid);
  }
  return domain;
}

function parseTypedChild(child: XmlElement, domain: DomainDef, ctx: SourceParseContext): boolean {
  switch (child.name) {
    case 'name':
    case 'uuid':
    case 'title':
    case 'description': {
      const key = child.name;
      if (!SIMPLE_TEXT.includes(key)) return false;
      domain[key] = key === 'uuid' ? textContent(child).trim() : textContent(child);
      return true;
    }
    case 'memory':
      domain.memory = parseMemory(child);
      return true;
    case 'currentMemory':
      domain.currentMemory = parseMemory(child);
      return true;
    case 'vcpu': {
      const count = parseUnsigned(child, textContent(child).trim(), 'vcpus count');
      domain.vcpu = {
        count,
        placement: attr(child, 'placement') ?? 'static',
        extraAttributes: child.attributes.filter(([name]) => name !== 'placement'),
      };
      return true;
    }
    case 'os':
      domain.os = parseOs(child);
      return true;
    case 'devices':
      domain.devices = parseDevices(child, ctx);
      return true;
    default:
      return false;
  }
}

function parseMemory(el: XmlElement): MemoryAmount {
  const bytes = parseScaledBytes(el, textContent(el), attr(el, 'unit'), 1024);
  return {
    kib: Math.floor(bytes / 1024),
    extraAttributes: el.attributes.filter(([name]) => name !== 'unit'),
  };
}

function parseOs(el: XmlElement): OsDef {
  const typeEl = childElements(el, 'type')[0];
  if (!typeEl) throw errorAt(el, 'an os must have a type', 'missing', 'VIR_ERR_XML_ERROR');
  return {
    type: textContent(typeEl).trim(),
    // libvirt writes arch before machine whatever the input order.
    typeAttributes: sortAttributes(typeEl.attributes, ['arch', 'machine']),
    extraElements: childElements(el).filter((c) => c !== typeEl),
    attributes: el.attributes,
  };
}

function parseDevices(el: XmlElement, ctx: SourceParseContext): DeviceEntry[] {
  const entries: DeviceEntry[] = [];
  for (const child of childElements(el)) {
    if (child.name === 'disk' || (child.name === 'replicationDisk' && ctx.extensions)) {
      entries.push({ kind: 'disk', disk: parseDiskElement(child, ctx) });
    } else entries.push({ kind: 'other', element: child });
  }
  return entries;
}

/** libvirt writes uuids lower-case with dashes. */
function canonicalUuid(uuid: string): string {
  const hex = uuid.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
