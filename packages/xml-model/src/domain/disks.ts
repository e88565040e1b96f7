import type { DiskDef } from '../disk/types.js';
import type { DomainDef } from './types.js';

/** The typed disks of a domain (`<disk>` and `<replicationDisk>`), in document order. */
export function domainDisks(domain: DomainDef): DiskDef[] {
  const disks: DiskDef[] = [];
  for (const entry of domain.devices ?? []) if (entry.kind === 'disk') disks.push(entry.disk);
  return disks;
}
