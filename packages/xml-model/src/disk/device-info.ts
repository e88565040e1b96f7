import { errorAt, parseUnsigned } from '../xml/fail.js';
import { attr, textContent, type XmlAttribute, type XmlElement } from '../xml/tree.js';
import type { AttributeSpec, LibvirtXmlWriter } from '../xml/writer.js';

/** `<address>` of a device: its type and the type's attributes in libvirt's order. */
export interface DeviceAddress {
  type: string;
  /** Attributes other than `type`; PCI values are kept in libvirt's hexadecimal spelling. */
  attributes: XmlAttribute[];
}

/** `<boot order= [loadparm=]/>`: the device's place in the boot order. */
export interface BootOrder {
  order: number;
  loadparm?: string;
}

const PCI_FIELDS: readonly [name: string, digits: number, max: number][] = [
  ['domain', 4, 0xffff],
  ['bus', 2, 0xff],
  ['slot', 2, 0x1f],
  ['function', 1, 0x7],
];
const DRIVE_FIELDS = ['controller', 'bus', 'target', 'unit'];

function parseNumber(el: XmlElement, name: string, value: string, max: number): number {
  const n = /^0x[0-9a-f]+$/i.test(value) ? Number.parseInt(value.slice(2), 16) : Number.NaN;
  const parsed = Number.isNaN(n) ? parseUnsigned(el, value, `${name} in address`) : n;
  if (parsed > max)
    throw errorAt(el, `Invalid PCI address ${name}='${value}', must be <= 0x${max.toString(16)}`);
  return parsed;
}

/**
 * Reads `<address>`. PCI addresses are normalised as libvirt writes them (`domain='0x0000'
 * bus='0x00' slot='0x05' function='0x0'`, then `multifunction`); drive addresses are written in
 * the order controller, bus, target, unit; other types keep their attributes as given.
 */
export function parseAddress(el: XmlElement): DeviceAddress {
  const type = attr(el, 'type');
  if (type === undefined) throw errorAt(el, 'No type specified for device address', 'missing');
  const rest = el.attributes.filter(([name]) => name !== 'type');
  if (type === 'pci') {
    const attributes: XmlAttribute[] = PCI_FIELDS.map(([name, digits, max]) => {
      const value = attr(el, name);
      const n = value === undefined ? 0 : parseNumber(el, name, value, max);
      return [name, `0x${n.toString(16).padStart(digits, '0')}`] as const;
    });
    for (const [name, value] of rest) {
      if (!PCI_FIELDS.some(([field]) => field === name)) attributes.push([name, value]);
    }
    return { type, attributes };
  }
  if (type === 'drive') {
    const attributes: XmlAttribute[] = DRIVE_FIELDS.map(
      (name) => [name, String(parseUnsigned(el, attr(el, name) ?? '0', `${name} in address`))] as const,
    );
    for (const [name, value] of rest) if (!DRIVE_FIELDS.includes(name)) attributes.push([name, value]);
    return { type, attributes };
  }
  return { type, attributes: rest };
}

/** Writes `<address>`. */
export function writeAddress(w: LibvirtXmlWriter, address: DeviceAddress): void {
  w.element('address', [['type', address.type] as AttributeSpec, ...address.attributes]);
}

/** Reads `<boot order=>`. */
export function parseBoot(el: XmlElement): BootOrder {
  const order = attr(el, 'order');
  if (order === undefined) throw errorAt(el, 'missing boot order attribute', 'missing');
  const n = parseUnsigned(el, order, 'boot order value');
  if (n === 0) throw errorAt(el, `incorrect boot order '${order}', expecting positive integer`);
  const boot: BootOrder = { order: n };
  const loadparm = attr(el, 'loadparm');
  if (loadparm !== undefined) boot.loadparm = loadparm.toUpperCase();
  return boot;
}

/** Writes `<boot>`. */
export function writeBoot(w: LibvirtXmlWriter, boot: BootOrder): void {
  w.element('boot', [
    ['order', boot.order],
    ['loadparm', boot.loadparm],
  ]);
}

/** Reads `<serial>` text; libvirt accepts only letters, digits, space and `_.+-`. */
export function parseSerial(el: XmlElement): string {
  const serial = textContent(el);
  if (!/^[A-Za-z0-9_.+\- ]+$/.test(serial)) {
    throw errorAt(
      el,
      `disk serial (${serial}) contains invalid characters`,
      'invalid-value',
      'VIR_ERR_XML_ERROR',
    );
  }
  return serial;
}
