import { isRuntimeMode, type XmlMode } from '../mode.js';
import type { AttributeSpec, LibvirtXmlWriter } from '../xml/writer.js';
import { SOURCE_ATTRIBUTE_ORDER, SOURCE_CHILD_ORDER, sortAttributes, sortByOrder } from './order.js';
import type { StorageSource } from './types.js';

/** Settings shared by the source formatters. */
export interface SourceFormatContext {
  mode: XmlMode;
  /** Write `index` even in the inactive form (inside Strata's replication and quorum disks). */
  keepIndexes?: boolean;
}

function writesIndexes(ctx: SourceFormatContext): boolean {
  return isRuntimeMode(ctx.mode) || ctx.keepIndexes === true;
}

function typedSourceAttributes(src: StorageSource): AttributeSpec[] {
  switch (src.type) {
    case 'file':
      return [
        ['file', src.path],
        ['fdgroup', src.fdgroup],
      ];
    case 'block':
      return [['dev', src.path]];
    case 'dir':
      return [['dir', src.path]];
    case 'network':
      return [
        ['protocol', src.protocol],
        ['name', src.path],
        ['tls', src.tls],
      ];
    case 'volume':
      return [
        ['pool', src.pool],
        ['volume', src.volume],
        ['mode', src.volumeMode],
      ];
    case 'nvme':
      return src.nvmeAttributes ?? [];
    case 'quorum':
      return [
        ['threshold', src.quorum?.threshold],
        ['readPattern', src.quorum?.readPattern],
      ];
    case 'replication':
      return [['mode', src.replication?.mode]];
    case 'vhostuser':
      return [];
  }
}

/** Writes `<metadata_cache>` when a bound is set (libvirt always writes it in bytes). */
export function writeMetadataCache(w: LibvirtXmlWriter, bytes: number | undefined): void {
  if (bytes === undefined) return;
  w.element('metadata_cache', [], (mc) => mc.textElement('max_size', bytes, [['unit', 'bytes']]));
}

/** Writes `<format type=>` for a chain member or mirror. */
export function writeFormat(w: LibvirtXmlWriter, src: StorageSource): void {
  if (src.format === undefined) return;
  w.element('format', [['type', src.format]], (f) => writeMetadataCache(f, src.metadataCacheMaxSize));
}

/**
 * Writes a `<source>` element the way libvirt does: the type's attributes, carried attributes,
 * `startupPolicy`, then `index` (runtime forms only, and not for chain members, whose index
 * sits on `<backingStore>`); `<host>` children, then the carried
 * children in libvirt's order. An empty source is left out.
 */
export function writeSource(
  w: LibvirtXmlWriter,
  src: StorageSource,
  ctx: SourceFormatContext,
  withIndex = true,
): void {
  const present = typedSourceAttributes(src).filter(
    (a): a is readonly [string, string | number] => a[1] !== undefined,
  );
  const ordered = sortAttributes(
    [...present.map(([k, v]) => [k, String(v)] as const), ...src.extraAttributes],
    SOURCE_ATTRIBUTE_ORDER[src.type] ?? [],
  );
  const attributes: AttributeSpec[] = [
    ...ordered,
    ['startupPolicy', src.startupPolicy],
    ['index', withIndex && writesIndexes(ctx) && src.index ? src.index : undefined],
  ];
  w.element(
    'source',
    attributes,
    (c) => {
      for (const host of src.hosts) {
        c.element('host', [
          ['name', host.name],
          ['port', host.port],
          ['transport', host.transport],
          ['socket', host.socket],
        ]);
      }
      const items: { name: string; write: () => void }[] = [];
      for (const el of src.extraElements) {
        if (el.name === 'privateData' && ctx.mode !== 'status') continue;
        items.push({ name: el.name, write: () => c.generic(el) });
      }
      if (src.slices.length > 0) {
        items.push({
          name: 'slices',
          write: () =>
            c.element('slices', [], (s) => {
              for (const slice of src.slices) {
                s.element('slice', [
                  ['type', 'storage'],
                  ['offset', slice.offset],
                  ['size', slice.size],
                ]);
              }
            }),
        });
      }
      for (const item of sortByOrder(items, SOURCE_CHILD_ORDER)) item.write();
    },
    { omitWhenEmpty: true },
  );
}

/** Writes the `<backingStore>` elements below `src` (chain, terminator, or node children). */
export function writeBackingChain(w: LibvirtXmlWriter, src: StorageSource, ctx: SourceFormatContext): void {
  if (src.children) {
    for (const child of src.children) writeBackingImage(w, child, ctx);
    return;
  }
  if (src.reference) return;
  switch (src.backingStore.kind) {
    case 'unknown':
      return;
    case 'end':
      w.element('backingStore', []);
      return;
    case 'image':
      writeBackingImage(w, src.backingStore.image, ctx);
  }
}

function writeBackingImage(w: LibvirtXmlWriter, image: StorageSource, ctx: SourceFormatContext): void {
  w.element(
    'backingStore',
    [
      ['type', image.type],
      ['index', writesIndexes(ctx) && image.index ? image.index : undefined],
    ],
    (b) => {
      if (image.reference) {
        b.element('reference', [
          ['dev', image.reference.dev],
          ['index', image.reference.index],
        ]);
        return;
      }
      writeFormat(b, image);
      // A chain member's index is written on <backingStore>, not on its <source>.
      writeSource(b, image, ctx, false);
      writeBackingChain(b, image, ctx);
    },
  );
}
