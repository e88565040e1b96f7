import { isRuntimeMode } from '../mode.js';
import { enumAttr, errorAt, parseUnsigned } from '../xml/fail.js';
import { attr, childElements, firstChild, type XmlAttribute, type XmlElement } from '../xml/tree.js';
import { parseAddress, parseBoot, parseSerial } from './device-info.js';
import { parseMirror } from './mirror.js';
import {
  parseBackingChain,
  parseImageFormat,
  parseMetadataCache,
  parseSourceElement,
  parseStorageType,
  type SourceParseContext,
} from './source-parse.js';
import { DISK_DEVICES, type DiskDef, type DiskDriver, emptySource, SNAPSHOT_MODES } from './types.js';

/** Values libvirt 9.0 accepts for the typed `<driver>` attributes. */
const DRIVER_ENUMS: Record<string, readonly string[]> = {
  cache: ['default', 'none', 'writeback', 'writethrough', 'directsync', 'unsafe'],
  error_policy: ['stop', 'report', 'ignore', 'enospace'],
  rerror_policy: ['stop', 'report', 'ignore'],
  io: ['threads', 'native', 'io_uring'],
  ioeventfd: ['on', 'off'],
  event_idx: ['on', 'off'],
  copy_on_read: ['on', 'off'],
  discard: ['unmap', 'ignore'],
  detect_zeroes: ['off', 'on', 'unmap'],
  iommu: ['on', 'off'],
  ats: ['on', 'off'],
  packed: ['on', 'off'],
  page_per_vq: ['on', 'off'],
};
const DRIVER_NUMBERS = new Set(['iothread', 'queues', 'queue_size']);

/** Buses libvirt 9.0 knows for `<target bus=>`. */
const DISK_BUSES = ['ide', 'fdc', 'scsi', 'virtio', 'xen', 'usb', 'uml', 'sata', 'sd'];

/** Disk children the parser types; every other child is carried untouched. */
const TYPED_DISK_CHILDREN = new Set([
  'driver',
  'source',
  'backingStore',
  'mirror',
  'target',
  'readonly',
  'shareable',
  'alias',
  'serial',
  'boot',
  'address',
]);

/**
 * Parses a `<disk>` (or Strata's `<replicationDisk>`) element following libvirt's
 * virDomainDiskDefParseXML: defaults, enumerations, the backing chain, the mirror (runtime forms
 * only) and the inactive-form rules for `index` and aliases.
 */
export function parseDiskElement(el: XmlElement, parentCtx: SourceParseContext): DiskDef {
  let ctx = parentCtx;
  const hidden = el.name === 'replicationDisk';
  if (hidden && !ctx.extensions) throw errorAt(el, '<replicationDisk> is a Strata extension', 'unsupported');
  const type = parseStorageType(el, attr(el, 'type') ?? 'file', ctx);
  if (hidden || type === 'quorum' || type === 'replication') ctx = { ...ctx, keepIndexes: true };
  const device = enumAttr(el, 'device', DISK_DEVICES, 'disk device') ?? 'disk';
  const snapshot = enumAttr(el, 'snapshot', SNAPSHOT_MODES, 'disk snapshot setting');
  const source = emptySource(type);
  const disk: DiskDef = {
    element: hidden ? 'replicationDisk' : 'disk',
    device,
    source,
    readonly: false,
    shareable: false,
    extraElements: [],
    extraAttributes: [],
  };
  if (snapshot) disk.snapshot = snapshot;
  for (const [name, value] of el.attributes) {
    if (name === 'model') disk.model = value;
    else if (name === 'rawio')
      disk.rawio = enumAttr(el, 'rawio', ['yes', 'no'] as const, 'disk rawio setting');
    else if (name === 'sgio')
      disk.sgio = enumAttr(el, 'sgio', ['filtered', 'unfiltered'] as const, 'disk sgio mode');
    else if (name === 'name' && hidden) disk.name = value;
    else if (!['type', 'device', 'snapshot'].includes(name)) disk.extraAttributes.push([name, value]);
  }
  if (hidden && !disk.name) throw errorAt(el, '<replicationDisk> needs a name', 'missing');

  const driverEl = firstChild(el, 'driver');
  if (driverEl) disk.driver = parseDriver(driverEl, disk);
  parseSourceElement(firstChild(el, 'source'), source, 'disk', ctx);
  parseBackingChain(el, source, ctx);
  const mirrorEl = firstChild(el, 'mirror');
  if (mirrorEl) {
    const mirror = parseMirror(mirrorEl, ctx);
    if (mirror) disk.mirror = mirror;
  }
  const targetEl = firstChild(el, 'target');
  if (targetEl) {
    const dev = attr(targetEl, 'dev');
    if (!dev) throw errorAt(targetEl, 'missing target dev', 'missing', 'VIR_ERR_NO_TARGET');
    const bus = attr(targetEl, 'bus') ?? defaultBus(dev, device);
    if (!DISK_BUSES.includes(bus)) {
      throw errorAt(
        targetEl,
        `unknown disk bus type '${bus}'`,
        'invalid-value',
        'VIR_ERR_CONFIG_UNSUPPORTED',
      );
    }
    const extra: XmlAttribute[] = targetEl.attributes.filter(([name]) => name !== 'dev' && name !== 'bus');
    disk.target = { dev, bus, extraAttributes: extra };
  } else if (hidden || ctx.sourceOnly) {
    // A disk the guest does not see has no target by design; a source-only parse needs none.
  } else {
    throw errorAt(
      el,
      `missing target information for device ${source.path ?? ''}`.trimEnd(),
      'missing',
      'VIR_ERR_NO_TARGET',
    );
  }
  if (hidden && targetEl)
    throw errorAt(targetEl, 'a <replicationDisk> is not visible to the guest and has no target');
  disk.readonly = firstChild(el, 'readonly') !== undefined;
  disk.shareable = firstChild(el, 'shareable') !== undefined;
  const aliasEl = firstChild(el, 'alias');
  const alias = aliasEl ? attr(aliasEl, 'name') : undefined;
  if (alias !== undefined && (isRuntimeMode(ctx.mode) || alias.startsWith('ua-'))) disk.alias = alias;
  const serialEl = firstChild(el, 'serial');
  if (serialEl) disk.serial = parseSerial(serialEl);
  const bootEl = firstChild(el, 'boot');
  if (bootEl) disk.boot = parseBoot(bootEl);
  const addressEl = firstChild(el, 'address');
  if (addressEl) disk.address = parseAddress(addressEl);
  for (const child of childElements(el)) {
    if (TYPED_DISK_CHILDREN.has(child.name)) continue;
    if ((child.name === 'privateData' || child.name === 'diskSecretsPlacement') && ctx.mode !== 'status')
      continue;
    disk.extraElements.push(child);
  }
  if ((type === 'quorum' || type === 'replication') && source.format !== undefined) {
    throw errorAt(driverEl, `a ${type} disk has no image format of its own`, 'invalid-value');
  }
  return disk;
}

function parseDriver(el: XmlElement, disk: DiskDef): DiskDriver {
  const attributes: XmlAttribute[] = [];
  for (const [name, value] of el.attributes) {
    if (name === 'type') {
      disk.source.format = parseImageFormat(el, value, 'driver format value');
      continue;
    }
    const allowed = DRIVER_ENUMS[name];
    if (allowed && !allowed.includes(value)) {
      throw errorAt(
        el,
        `unknown disk ${name.replace(/_/g, ' ')} '${value}'`,
        'invalid-value',
        'VIR_ERR_CONFIG_UNSUPPORTED',
      );
    }
    if (DRIVER_NUMBERS.has(name)) parseUnsigned(el, value, `driver ${name}`);
    attributes.push([name, value]);
  }
  disk.source.metadataCacheMaxSize = parseMetadataCache(el);
  return { attributes };
}

/** libvirt derives a missing bus from the target name's prefix (and always writes it). */
function defaultBus(dev: string, device: string): string {
  if (dev.startsWith('hd')) return 'ide';
  if (dev.startsWith('sd')) return 'scsi';
  if (dev.startsWith('vd')) return 'virtio';
  if (dev.startsWith('xvd')) return 'xen';
  if (dev.startsWith('ubd')) return 'uml';
  if (device === 'floppy') return 'fdc';
  return 'ide';
}
