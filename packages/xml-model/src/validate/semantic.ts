import { chainElements, diskHandle, lookupChainElement } from '../disk/chain.js';
import type { DiskDef, StorageSource } from '../disk/types.js';
import { domainDisks } from '../domain/disks.js';
import type { DomainDef } from '../domain/types.js';
import { XmlModelError } from '../errors.js';
import type { SnapshotDef } from '../snapshot/types.js';

function problem(path: string, detail: string, code: XmlModelError['code'] = 'invalid-value'): XmlModelError {
  return new XmlModelError(detail, { code, path });
}

/**
 * Checks what a schema cannot: unique disk targets and names, unique indexes within a disk,
 * references that resolve to another disk's chain element, and the shape of replication
 * setups (a secondary's active and hidden images are qcow2 and end in a reference; a primary
 * forwards to an NBD export). Returns every problem found; an empty list means valid.
 */
export function validateDomain(domain: DomainDef): XmlModelError[] {
  const problems: XmlModelError[] = [];
  const handles = new Map<string, number>();
  const disks = domainDisks(domain);
  const seenPerElement = new Map<string, number>();
  disks.forEach((disk, i) => {
    // Same path notation as parse errors: position among siblings of the same name.
    const position = (seenPerElement.get(disk.element) ?? 0) + 1;
    seenPerElement.set(disk.element, position);
    const path = `/domain/devices[1]/${disk.element}[${position}]`;
    const handle = diskHandle(disk);
    if (handle !== undefined) {
      if (handles.has(handle)) problems.push(problem(path, `target '${handle}' duplicated for disk sources`));
      handles.set(handle, i);
    }
    const seen = new Set<number>();
    for (const image of chainElements(disk.source)) {
      if (image.index === undefined) continue;
      if (seen.has(image.index))
        problems.push(problem(path, `index ${image.index} is used twice in disk '${handle ?? '?'}'`));
      seen.add(image.index);
    }
    problems.push(...checkReferences(domain, disk, path));
    problems.push(...checkReplicationShape(disk.source, path));
  });
  return problems;
}

function checkReferences(domain: DomainDef, disk: DiskDef, path: string): XmlModelError[] {
  const out: XmlModelError[] = [];
  for (const image of chainElements(disk.source)) {
    const ref = image.reference;
    if (!ref) continue;
    if (ref.dev === diskHandle(disk)) {
      out.push(problem(path, `<reference dev='${ref.dev}'> points into its own disk`, 'unresolved'));
      continue;
    }
    const target = lookupChainElement(domain, `${ref.dev}[${ref.index}]`);
    if (!target) {
      out.push(
        problem(
          path,
          `<reference dev='${ref.dev}' index='${ref.index}'> does not name any chain element`,
          'unresolved',
        ),
      );
    } else if (target.image.reference) {
      out.push(
        problem(
          path,
          `<reference dev='${ref.dev}' index='${ref.index}'> names another reference`,
          'unresolved',
        ),
      );
    }
  }
  return out;
}

function checkReplicationShape(top: StorageSource, path: string): XmlModelError[] {
  const out: XmlModelError[] = [];
  for (const node of chainElements(top)) {
    if (node.type !== 'replication' || !node.replication) continue;
    const child = node.children?.[0];
    if (!child) continue;
    if (node.replication.mode === 'primary') {
      if (child.type !== 'network' || child.protocol !== 'nbd') {
        out.push(
          problem(
            path,
            'a primary replication node forwards writes to an NBD export: its child must be a network source with protocol nbd',
          ),
        );
      }
      continue;
    }
    // Secondary: active image -> hidden image -> the secondary disk (a reference).
    const hiddenStore = child.backingStore.kind === 'image' ? child.backingStore.image : undefined;
    const below = hiddenStore?.backingStore.kind === 'image' ? hiddenStore.backingStore.image : undefined;
    if (child.format !== 'qcow2' || hiddenStore?.format !== 'qcow2') {
      out.push(
        problem(
          path,
          'a secondary replication node needs a qcow2 active image backed by a qcow2 hidden image',
        ),
      );
    }
    if (!below?.reference) {
      out.push(
        problem(
          path,
          "the hidden image of a secondary replication node must be backed by <backingStore type='replication'> with a <reference>",
        ),
      );
    }
  }
  return out;
}

/**
 * Checks a snapshot beyond the schema: disk entries are unique, external paths are set where a
 * mirror needs them, and a mirror destination differs from the overlay.
 */
export function validateSnapshot(def: SnapshotDef): XmlModelError[] {
  const problems: XmlModelError[] = [];
  const names = new Set<string>();
  def.disks.forEach((disk, i) => {
    const path = `/domainsnapshot/disks[1]/disk[${i + 1}]`;
    if (names.has(disk.name)) problems.push(problem(path, `disk '${disk.name}' specified twice`));
    names.add(disk.name);
    if (disk.mirror) {
      if (disk.source.path === undefined)
        problems.push(problem(path, 'a mirrored snapshot disk must name its new overlay', 'missing'));
      else if (disk.mirror.path === disk.source.path && disk.mirror.type === disk.source.type) {
        problems.push(problem(path, 'the mirror destination is the overlay itself'));
      }
    }
  });
  if (def.memory?.snapshot === 'external' && def.memory.file === undefined) {
    problems.push(
      problem('/domainsnapshot/memory[1]', 'external memory snapshots require a filename', 'missing'),
    );
  }
  return problems;
}
