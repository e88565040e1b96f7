import type { FormatOptions, ParseOptions } from '../options.js';
import { errorAt } from '../xml/fail.js';
import { readXml } from '../xml/read.js';
import { firstChild } from '../xml/tree.js';
import { LibvirtXmlWriter } from '../xml/writer.js';
import { writeDomain } from './domain-format.js';
import { parseDomainElement } from './domain-parse.js';
import type { DomainDef } from './types.js';

/**
 * Parses a `<domain>` document. With `mode: 'status'` a libvirt status document (`<domstatus>`)
 * is also accepted; its `<domain>` is parsed and the status-only parts around it are not modelled.
 */
export function parseDomainXml(xml: string, options: ParseOptions = {}): DomainDef {
  const mode = options.mode ?? 'inactive';
  let root = readXml(xml, options.limits);
  if (root.name === 'domstatus' && mode === 'status') {
    const inner = firstChild(root, 'domain');
    if (!inner) throw errorAt(root, 'status document has no <domain>', 'missing', 'VIR_ERR_XML_ERROR');
    root = inner;
  }
  if (root.name !== 'domain') {
    throw errorAt(
      root,
      `expected root element <domain>, found <${root.name}>`,
      'invalid-value',
      'VIR_ERR_XML_ERROR',
    );
  }
  return parseDomainElement(root, { mode, extensions: options.extensions ?? true });
}

/** Formats a domain exactly as libvirt writes it in the requested form. */
export function formatDomainXml(domain: DomainDef, options: FormatOptions = {}): string {
  const w = new LibvirtXmlWriter();
  writeDomain(w, domain, { mode: options.mode ?? 'inactive' });
  return w.toString();
}
