import type { FormatOptions, ParseOptions } from '../options.js';
import { errorAt } from '../xml/fail.js';
import { readXml } from '../xml/read.js';
import { LibvirtXmlWriter } from '../xml/writer.js';
import { writeDisk } from './disk-format.js';
import { parseDiskElement } from './disk-parse.js';
import type { DiskDef } from './types.js';

/** Options of {@link parseDiskXml}. */
export interface DiskParseOptions extends ParseOptions {
  /**
   * Read only the storage description (libvirt's DISK_SOURCE parse, used for images that are
   * not attached to a guest): `<target>` is not required.
   */
  sourceOnly?: boolean;
}

/** Parses a document whose root is a single `<disk>` (as `virsh attach-device` takes). */
export function parseDiskXml(xml: string, options: DiskParseOptions = {}): DiskDef {
  const root = readXml(xml, options.limits);
  if (root.name !== 'disk' && root.name !== 'replicationDisk') {
    throw errorAt(
      root,
      `expected root element <disk>, found <${root.name}>`,
      'invalid-value',
      'VIR_ERR_XML_ERROR',
    );
  }
  return parseDiskElement(root, {
    mode: options.mode ?? 'inactive',
    extensions: options.extensions ?? true,
    sourceOnly: options.sourceOnly ?? false,
  });
}

/** Formats one disk as libvirt writes it (no indentation at the root). */
export function formatDiskXml(disk: DiskDef, options: FormatOptions = {}): string {
  const w = new LibvirtXmlWriter();
  writeDisk(w, disk, { mode: options.mode ?? 'inactive' });
  return w.toString();
}
