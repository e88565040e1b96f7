import { readFile, stat } from 'node:fs/promises';
import {
  DEFAULT_XML_LIMITS,
  type DiskDef,
  type DomainDef,
  type DomainStatusDef,
  parseDiskXml,
  parseDomainStatusXml,
  parseDomainXml,
  parseSnapshotXml,
  readXml,
  type SnapshotDef,
  type XmlMode,
  XmlModelError,
} from '@strata/xml-model';

/** A document read from a file, by the kind its root element says it is. */
export type LoadedDocument =
  | { kind: 'domain'; text: string; domain: DomainDef }
  | { kind: 'status'; text: string; status: DomainStatusDef }
  | { kind: 'snapshot'; text: string; snapshot: SnapshotDef }
  | { kind: 'disk'; text: string; disk: DiskDef };

/** How a document is read. */
export interface LoadOptions {
  mode: XmlMode;
  redefine: boolean;
  internal: boolean;
  extensions: boolean;
  /** Read a bare `<disk>` as a storage description only (no `<target>` needed). */
  sourceOnly: boolean;
}

/** Reads a file, refusing one larger than the XML size bound before reading it. */
export async function readDocumentText(path: string): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (cause) {
    throw new XmlModelError(`cannot read ${path}: ${(cause as Error).message}`, { code: 'missing', cause });
  }
  if (size > DEFAULT_XML_LIMITS.maxDocumentLength) {
    throw new XmlModelError(
      `document of ${size} bytes exceeds the limit of ${DEFAULT_XML_LIMITS.maxDocumentLength}`,
      {
        code: 'limit',
      },
    );
  }
  return readFile(path, 'utf8');
}

/**
 * Parses a document according to its root element (`domain`, `domainsnapshot`, `disk`, or
 * libvirt's status document `domstatus`, whose domain is read in the status form).
 */
export function loadDocument(text: string, options: LoadOptions): LoadedDocument {
  const root = readXml(text).name;
  const common = { mode: options.mode, extensions: options.extensions };
  switch (root) {
    case 'domain':
      return { kind: 'domain', text, domain: parseDomainXml(text, common) };
    case 'domstatus':
      return { kind: 'status', text, status: parseDomainStatusXml(text, { extensions: options.extensions }) };
    case 'domainsnapshot':
      return {
        kind: 'snapshot',
        text,
        snapshot: parseSnapshotXml(text, {
          redefine: options.redefine,
          internal: options.internal,
          extensions: options.extensions,
        }),
      };
    case 'disk':
    case 'replicationDisk':
      return { kind: 'disk', text, disk: parseDiskXml(text, { ...common, sourceOnly: options.sourceOnly }) };
    default:
      throw new XmlModelError(
        `unsupported root element <${root}> (expected domain, domstatus, domainsnapshot or disk)`,
        {
          code: 'unsupported',
          path: `/${root}`,
        },
      );
  }
}
