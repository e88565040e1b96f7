import type { XmlLimits } from '../xml/limits.js';
import { readXml } from '../xml/read.js';
import { LibvirtXmlWriter } from '../xml/writer.js';
import { writeSnapshot } from './snapshot-format.js';
import { parseSnapshotElement } from './snapshot-parse.js';
import type { SnapshotDef } from './types.js';

/** Options of {@link parseSnapshotXml}. */
export interface SnapshotParseOptions {
  /**
   * Read as the metadata of an existing snapshot (libvirt's REDEFINE flag): name, creationTime
   * and state are required and the parent and embedded domain are honoured. Without it the
   * document describes a snapshot to create and those parts are ignored.
   */
  redefine?: boolean;
  /** libvirt's private metadata form: `<active>` is required and read. */
  internal?: boolean;
  /** Creation time (seconds) recorded for a new snapshot; defaults to now. */
  creationTime?: number;
  /** Accept Strata's snapshot-disk `<mirror>` (default true). */
  extensions?: boolean;
  /** Document bounds. */
  limits?: Partial<XmlLimits>;
}

/** Options of {@link formatSnapshotXml}. */
export interface SnapshotFormatOptions {
  /** uuid of the snapshot's domain, written as `<domain><uuid>` when no full domain is embedded. */
  domainUuid?: string;
  /** Write `<active>` (libvirt's private metadata form). */
  internal?: boolean;
}

/** Parses a `<domainsnapshot>` document. */
export function parseSnapshotXml(xml: string, options: SnapshotParseOptions = {}): SnapshotDef {
  return parseSnapshotElement(readXml(xml, options.limits), {
    redefine: options.redefine ?? false,
    internal: options.internal ?? false,
    creationTime: options.creationTime ?? Math.floor(Date.now() / 1000),
    extensions: options.extensions ?? true,
  });
}

/** Formats a snapshot exactly as libvirt writes it. */
export function formatSnapshotXml(def: SnapshotDef, options: SnapshotFormatOptions = {}): string {
  const w = new LibvirtXmlWriter();
  writeSnapshot(w, def, {
    internal: options.internal ?? false,
    ...(options.domainUuid ? { domainUuid: options.domainUuid } : {}),
  });
  return w.toString();
}
