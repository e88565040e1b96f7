import { diskHandle } from '../disk/chain.js';
import { emptySource, type SnapshotMode } from '../disk/types.js';
import { domainDisks } from '../domain/disks.js';
import type { DomainDef } from '../domain/types.js';
import { XmlModelError } from '../errors.js';
import type { SnapshotDef, SnapshotDiskDef } from './types.js';

/** Options of {@link alignSnapshotDisks}. */
export interface AlignOptions {
  /** Where disks the request does not mention go when their `<disk snapshot=>` says nothing. */
  defaultLocation: 'internal' | 'external';
}

function fail(detail: string, code: XmlModelError['code'] = 'invalid-value'): XmlModelError {
  return new XmlModelError(detail, {
    code,
    path: '/domainsnapshot/disks[1]',
    libvirtCode: 'VIR_ERR_CONFIG_UNSUPPORTED',
  });
}

/** The overlay name libvirt generates: the last extension of the file name replaced by `.<snapshot>`. */
function generatedName(path: string, snapshotName: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  const stem = dot > slash ? path.slice(0, dot) : path;
  return `${stem}.${snapshotName}`;
}

/**
 * Completes a snapshot request the way libvirt does before taking it: one entry per domain
 * disk, in domain order; disks named by source path are renamed to their target; disks the
 * request leaves out take their `<disk snapshot=>` setting or `defaultLocation`; disks without
 * media are not snapshotted; external disks without a file get a generated name next to the
 * original image. Returns a new snapshot; checking that files exist is left to the caller.
 */
export function alignSnapshotDisks(
  snapshot: SnapshotDef,
  domain: DomainDef,
  options: AlignOptions,
): SnapshotDef {
  const disks = domainDisks(domain).filter((d) => d.element === 'disk');
  if (snapshot.disks.length > disks.length) {
    throw fail(`too many disk snapshot requests for domain`);
  }
  const requested = new Map<string, SnapshotDiskDef>();
  for (const entry of snapshot.disks) {
    const byTarget = disks.find((d) => diskHandle(d) === entry.name);
    const byPath = byTarget ?? disks.find((d) => d.source.path !== undefined && d.source.path === entry.name);
    if (!byPath) throw fail(`no disk named '${entry.name}'`, 'unresolved');
    const target = diskHandle(byPath)!;
    if (requested.has(target)) throw fail(`disk '${entry.name}' specified twice`);
    requested.set(target, { ...entry, name: target });
  }
  const name = snapshot.name ?? String(snapshot.creationTime ?? '');
  const aligned: SnapshotDiskDef[] = [];
  const generatedBy = new Map<string, string>();
  for (const disk of disks) {
    const target = diskHandle(disk)!;
    const given = requested.get(target);
    const entry: SnapshotDiskDef = given ?? {
      name: target,
      source: emptySource('file'),
      deleteInProgress: false,
    };
    let mode: SnapshotMode | undefined = entry.snapshot;
    if (!given) mode = disk.snapshot ?? options.defaultLocation;
    if (disk.source.path === undefined && disk.source.type !== 'network') mode = 'no'; // no media
    if (entry.source.path !== undefined && mode !== 'external') {
      throw fail(`file '${entry.source.path}' for disk '${target}' requires use of external snapshot mode`);
    }
    entry.snapshot = mode ?? options.defaultLocation;
    if (entry.snapshot === 'external' && entry.source.path === undefined) {
      if (disk.source.type !== 'file' || disk.source.path === undefined) {
        throw fail(
          `cannot generate external snapshot name for disk '${target}' on a '${disk.source.type}' device`,
          'unsupported',
        );
      }
      const path = generatedName(disk.source.path, name);
      const clash = generatedBy.get(path);
      if (clash)
        throw fail(
          `cannot generate external snapshot name for disk '${target}': collision with disk '${clash}'`,
        );
      generatedBy.set(path, target);
      entry.source = { ...entry.source, type: 'file', path };
    }
    aligned.push(entry);
  }
  return { ...snapshot, disks: aligned };
}
