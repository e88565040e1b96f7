import { writeDomain } from '../domain/domain-format.js';
import {
  type SourceFormatContext,
  writeFormat,
  writeMetadataCache,
  writeSource,
} from '../disk/source-format.js';
import type { LibvirtXmlWriter } from '../xml/writer.js';
import type { SnapshotDef, SnapshotDiskDef } from './types.js';

/** How a snapshot is written, mirroring libvirt's format flags. */
export interface SnapshotFormatFlags {
  /** uuid of the domain, written as `<domain><uuid>` when no full domain is embedded. */
  domainUuid?: string;
  /** INTERNAL: write `<active>` (libvirt's private metadata files). */
  internal: boolean;
}

const CTX: SourceFormatContext = { mode: 'inactive' };

/** Writes a `<domainsnapshot>` in libvirt's fixed element order. */
export function writeSnapshot(w: LibvirtXmlWriter, def: SnapshotDef, flags: SnapshotFormatFlags): void {
  w.element('domainsnapshot', [], (s) => {
    s.textElement('name', def.name);
    s.textElement('description', def.description);
    s.textElement('state', def.state);
    if (def.parent !== undefined) {
      const parent = def.parent;
      s.element('parent', [], (p) => p.textElement('name', parent));
    }
    if (def.creationTime) s.textElement('creationTime', def.creationTime);
    if (def.memory) {
      s.element('memory', [
        ['snapshot', def.memory.snapshot],
        ['file', def.memory.file],
      ]);
    }
    if (def.disks.length > 0) {
      s.element('disks', [], (d) => {
        for (const disk of def.disks) writeSnapshotDisk(d, disk, flags.internal);
      });
    }
    if (def.domain) writeDomain(s, def.domain, CTX);
    else if (flags.domainUuid !== undefined) {
      const uuid = flags.domainUuid;
      s.element('domain', [], (d) => d.textElement('uuid', uuid));
    }
    if (def.inactiveDomain) writeDomain(s, def.inactiveDomain, CTX, 'inactiveDomain');
    if (def.cookie) s.generic(def.cookie);
    if (flags.internal) s.textElement('active', def.active ? 1 : 0);
  });
}

function writeSnapshotDisk(w: LibvirtXmlWriter, disk: SnapshotDiskDef, internal: boolean): void {
  const src = disk.source;
  const described = src.path !== undefined || src.format !== undefined;
  w.element(
    'disk',
    [
      ['name', disk.name],
      ['snapshot', disk.snapshot],
      ['type', described ? src.type : undefined],
    ],
    (d) => {
      if (!described) return;
      // Private bookkeeping: only libvirt's own metadata files (the internal form) carry it.
      if (disk.deleteInProgress && internal) d.element('snapshotDeleteInProgress', []);
      d.element('driver', [['type', src.format]], (dr) => writeMetadataCache(dr, src.metadataCacheMaxSize), {
        omitWhenEmpty: true,
      });
      writeSource(d, src, CTX);
      if (disk.mirror) {
        const mirror = disk.mirror;
        d.element('mirror', [['type', mirror.type]], (m) => {
          writeFormat(m, mirror);
          writeSource(m, mirror, CTX);
        });
      }
    },
  );
}
