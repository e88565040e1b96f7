import type { DomainDef } from '../domain/types.js';
import type { DiskDef, StorageSource } from './types.js';

/**
 * Every image of a disk's tree, top first: the top image, then (depth first) the children of a
 * quorum or replication node, or the backing chain of an image. The mirror is not included.
 */
export function* chainElements(top: StorageSource): Generator<StorageSource> {
  const stack: StorageSource[] = [top];
  while (stack.length > 0) {
    const src = stack.pop()!;
    yield src;
    if (src.children) for (let i = src.children.length - 1; i >= 0; i--) stack.push(src.children[i]!);
    else if (src.backingStore.kind === 'image') stack.push(src.backingStore.image);
  }
}

/** The handle a disk is named by: its target, or the name of a `<replicationDisk>`. */
export function diskHandle(disk: DiskDef): string | undefined {
  return disk.element === 'replicationDisk' ? disk.name : disk.target?.dev;
}

/**
 * Resolves libvirt's `target[index]` notation (`vda[2]`), or a bare target meaning the top
 * image, to the disk and chain element it names; undefined when nothing matches.
 */
export function lookupChainElement(
  domain: DomainDef,
  name: string,
): { disk: DiskDef; image: StorageSource } | undefined {
  const match = /^([^[\]]+)(?:\[([0-9]+)\])?$/.exec(name);
  if (!match) return undefined;
  const [, dev, indexText] = match;
  for (const entry of domain.devices ?? []) {
    if (entry.kind !== 'disk' || diskHandle(entry.disk) !== dev) continue;
    if (indexText === undefined) return { disk: entry.disk, image: entry.disk.source };
    const index = Number(indexText);
    for (const image of chainElements(entry.disk.source)) {
      if (image.index === index) return { disk: entry.disk, image };
    }
    return undefined;
  }
  return undefined;
}
