import { isRuntimeMode } from '../mode.js';
import type { AttributeSpec, LibvirtXmlWriter } from '../xml/writer.js';
import { writeAddress, writeBoot } from './device-info.js';
import { writeMirror } from './mirror.js';
import {
  DISK_CHILD_ORDER,
  DRIVER_ATTRIBUTE_ORDER,
  sortAttributes,
  sortByOrder,
  TARGET_ATTRIBUTE_ORDER,
} from './order.js';
import {
  type SourceFormatContext,
  writeBackingChain,
  writeMetadataCache,
  writeSource,
} from './source-format.js';
import type { DiskDef } from './types.js';

const STATUS_ONLY = new Set(['privateData', 'diskSecretsPlacement']);

/**
 * Writes a `<disk>` (or `<replicationDisk>`) exactly as libvirt's virDomainDiskDefFormat does:
 * attributes `type`, `device`, `model`, `rawio`, `sgio`, `snapshot`; children in libvirt's fixed
 * order with carried elements slotted into their place.
 */
export function writeDisk(w: LibvirtXmlWriter, disk: DiskDef, parentCtx: SourceFormatContext): void {
  const hidden = disk.element === 'replicationDisk';
  const extension = hidden || disk.source.type === 'quorum' || disk.source.type === 'replication';
  const ctx: SourceFormatContext = extension ? { ...parentCtx, keepIndexes: true } : parentCtx;
  const attributes: AttributeSpec[] = [
    ['type', disk.source.type],
    ['name', hidden ? disk.name : undefined],
    ['device', hidden ? undefined : disk.device],
    ['model', disk.model],
    ['rawio', disk.rawio],
    ['sgio', disk.sgio],
    // libvirt leaves out snapshot='no' on a read-only disk: it is implied there.
    ['snapshot', disk.snapshot === 'no' && disk.readonly ? undefined : disk.snapshot],
    ...disk.extraAttributes,
  ];
  w.element(disk.element, attributes, (d) => {
    const items: { name: string; write: () => void }[] = [];
    items.push({
      name: 'driver',
      write: () => {
        const driverAttributes = sortAttributes(
          [
            ...(disk.driver?.attributes ?? []),
            ...(disk.source.format !== undefined ? ([['type', disk.source.format]] as const) : []),
          ],
          DRIVER_ATTRIBUTE_ORDER,
        );
        d.element(
          'driver',
          driverAttributes,
          (dr) => writeMetadataCache(dr, disk.source.metadataCacheMaxSize),
          {
            omitWhenEmpty: true,
          },
        );
      },
    });
    items.push({ name: 'source', write: () => writeSource(d, disk.source, ctx) });
    items.push({ name: 'backingStore', write: () => writeBackingChain(d, disk.source, ctx) });
    if (disk.mirror && isRuntimeMode(ctx.mode)) {
      const mirror = disk.mirror;
      items.push({ name: 'mirror', write: () => writeMirror(d, mirror, ctx) });
    }
    if (disk.target) {
      const target = disk.target;
      items.push({
        name: 'target',
        write: () =>
          d.element('target', [
            ['dev', target.dev],
            ['bus', target.bus],
            ...sortAttributes(target.extraAttributes, TARGET_ATTRIBUTE_ORDER),
          ]),
      });
    }
    if (disk.readonly) items.push({ name: 'readonly', write: () => d.element('readonly', []) });
    if (disk.shareable) items.push({ name: 'shareable', write: () => d.element('shareable', []) });
    const alias = disk.alias;
    if (alias !== undefined && (isRuntimeMode(ctx.mode) || alias.startsWith('ua-'))) {
      items.push({ name: 'alias', write: () => d.element('alias', [['name', alias]]) });
    }
    const { serial, boot, address } = disk;
    if (serial !== undefined) items.push({ name: 'serial', write: () => d.textElement('serial', serial) });
    if (boot) items.push({ name: 'boot', write: () => writeBoot(d, boot) });
    if (address) items.push({ name: 'address', write: () => writeAddress(d, address) });
    for (const el of disk.extraElements) {
      if (STATUS_ONLY.has(el.name) && ctx.mode !== 'status') continue;
      items.push({ name: el.name, write: () => d.generic(el) });
    }
    for (const item of sortByOrder(items, DISK_CHILD_ORDER)) item.write();
  });
}
