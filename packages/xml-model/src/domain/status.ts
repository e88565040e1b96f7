import type { SourceParseContext } from '../disk/source-parse.js';
import type { FormatOptions, ParseOptions } from '../options.js';
import { errorAt } from '../xml/fail.js';
import { readXml } from '../xml/read.js';
import { childElements, type XmlAttribute, type XmlElement } from '../xml/tree.js';
import { LibvirtXmlWriter } from '../xml/writer.js';
import { writeDomain } from './domain-format.js';
import { parseDomainElement } from './domain-parse.js';
import type { DomainDef } from './types.js';

/**
 * libvirt's status document (`<domstatus>`, kept in its run-time state directory): the domain in
 * the status form, surrounded by libvirt's private run-time data (block jobs, the node-name
 * counter, ...), which is carried untouched in place.
 */
export interface DomainStatusDef {
  attributes: XmlAttribute[];
  /** Children before `<domain>`, in order. */
  before: XmlElement[];
  domain: DomainDef;
  /** Children after `<domain>`, in order. */
  after: XmlElement[];
}

/** Parses a `<domstatus>` document; its `<domain>` is read in the status form. */
export function parseDomainStatusXml(xml: string, options: Omit<ParseOptions, 'mode'> = {}): DomainStatusDef {
  const root = readXml(xml, options.limits);
  if (root.name !== 'domstatus') {
    throw errorAt(
      root,
      `expected root element <domstatus>, found <${root.name}>`,
      'invalid-value',
      'VIR_ERR_XML_ERROR',
    );
  }
  const ctx: SourceParseContext = { mode: 'status', extensions: options.extensions ?? true };
  const children = childElements(root);
  const at = children.findIndex((c) => c.name === 'domain');
  if (at < 0) throw errorAt(root, 'status document has no <domain>', 'missing', 'VIR_ERR_XML_ERROR');
  return {
    attributes: root.attributes,
    before: children.slice(0, at),
    domain: parseDomainElement(children[at]!, ctx),
    after: children.slice(at + 1),
  };
}

/** Formats a status document as libvirt writes it. */
export function formatDomainStatusXml(
  status: DomainStatusDef,
  _options: Omit<FormatOptions, 'mode'> = {},
): string {
  const w = new LibvirtXmlWriter();
  w.element('domstatus', status.attributes, (s) => {
    for (const el of status.before) s.generic(el);
    writeDomain(s, status.domain, { mode: 'status' });
    for (const el of status.after) s.generic(el);
  });
  return w.toString();
}
