import type { XmlElement } from '../xml/tree.js';
import type { DiskDef, StorageSource } from './types.js';

/**
 * Fills in what libvirt's QEMU driver adds to a disk after parsing (its post-parse step), so a
 * document formats the way `virsh dumpxml` of a QEMU domain shows it:
 *
 * - `<driver name='qemu'>` when no driver name was given;
 * - image format `raw` for the top image when none was given (except for `volume` disks, whose
 *   format comes from the pool, and Strata's quorum/replication nodes, which have none);
 * - format `raw` for a `<mirror>` that names none;
 * - `engine='qemu'` on LUKS `<encryption>` that names no engine, throughout the chain.
 *
 * Device addresses and aliases, which the QEMU driver also assigns, are not invented here.
 * Returns a new disk; the argument is not changed.
 */
export function applyQemuDiskDefaults(disk: DiskDef): DiskDef {
  const copy = structuredClone(disk);
  const hasFormat =
    copy.source.type !== 'volume' && copy.source.type !== 'quorum' && copy.source.type !== 'replication';
  const driverAttributes = copy.driver?.attributes ?? [];
  if (!driverAttributes.some(([name]) => name === 'name')) driverAttributes.unshift(['name', 'qemu']);
  copy.driver = { attributes: driverAttributes };
  if (hasFormat && copy.source.format === undefined) copy.source.format = 'raw';
  if (copy.mirror && copy.mirror.source.format === undefined) copy.mirror.source.format = 'raw';
  for (const src of chainOf(copy.source)) src.extraElements = src.extraElements.map(withEncryptionEngine);
  return copy;
}

function* chainOf(src: StorageSource): Generator<StorageSource> {
  yield src;
  for (const child of src.children ?? []) yield* chainOf(child);
  if (src.backingStore.kind === 'image') yield* chainOf(src.backingStore.image);
}

function withEncryptionEngine(el: XmlElement): XmlElement {
  if (el.name !== 'encryption') return el;
  const format = el.attributes.find(([name]) => name === 'format')?.[1];
  if (format !== 'luks' || el.attributes.some(([name]) => name === 'engine')) return el;
  const attributes = [...el.attributes];
  const at = attributes.findIndex(([name]) => name === 'format') + 1;
  attributes.splice(at, 0, ['engine', 'qemu']);
  return { ...el, attributes };
}
