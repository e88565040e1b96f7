import { describe, expect, it } from 'vitest';
import { parseDomainXml } from '../domain/domain-xml.js';
import { XmlModelError } from '../errors.js';
import { readXml } from './read.js';

function refusal(run: () => unknown): XmlModelError {
  try {
    run();
  } catch (error) {
    if (error instanceof XmlModelError) return error;
    throw error;
  }
  throw new Error('expected the document to be refused');
}

describe('hostile XML is refused with a typed error', () => {
  it('billion laughs: the DTD that defines the entities is refused before any expansion', () => {
    const defs = ['<!ENTITY lol "lol">'];
    for (let i = 1; i <= 9; i++) defs.push(`<!ENTITY lol${i} "${`&lol${i - 1 || ''};`.repeat(10)}">`);
    const xml = `<?xml version="1.0"?>\n<!DOCTYPE domain [\n${defs.join('\n')}\n]>\n<domain type='kvm'><name>&lol9;</name></domain>`;
    const e = refusal(() => parseDomainXml(xml));
    expect(e.code).toBe('forbidden');
    expect(e.message).toContain('DTD');
  });

  it('an undeclared entity reference is malformed, not expanded', () => {
    const e = refusal(() => readXml("<domain type='kvm'><name>&lol9;</name></domain>"));
    expect(e.code).toBe('malformed');
    expect(e.line).toBe(1);
  });

  it('external entities (file and network) are refused', () => {
    for (const system of ['file:///etc/passwd', 'http://192.0.2.1/x']) {
      const xml = `<!DOCTYPE domain [<!ENTITY xxe SYSTEM "${system}">]>\n<domain type='kvm'><name>&xxe;</name></domain>`;
      expect(refusal(() => parseDomainXml(xml)).code).toBe('forbidden');
    }
  });

  it('processing instructions other than the XML declaration are refused', () => {
    const e = refusal(() => readXml("<?xml version='1.0'?>\n<?xml-stylesheet href='x'?>\n<domain/>"));
    expect(e.code).toBe('forbidden');
    expect(e.line).toBe(2);
  });

  it('10 000 levels of nesting stop at the depth bound, naming the line', () => {
    const xml = `${'<a>\n'.repeat(10_000)}${'</a>'.repeat(10_000)}`;
    const e = refusal(() => readXml(xml));
    expect(e.code).toBe('limit');
    expect(e.message).toContain('nested deeper than 256 levels');
    expect(e.line).toBe(257);
  });

  it('a 100 MB attribute is refused by the size bound before it is parsed', () => {
    const huge = 'A'.repeat(100 * 1024 * 1024);
    const before = process.memoryUsage().heapUsed;
    const e = refusal(() => readXml(`<domain type='${huge}'/>`));
    expect(e.code).toBe('limit');
    expect(e.message).toMatch(/exceeds the limit of 8388608/);
    // Nothing proportional to the document was allocated by the parser (the input itself is
    // the caller's); allow generous slack for the test's own strings.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('a long attribute under the document bound is refused by the value bound', () => {
    const e = refusal(() => readXml(`<domain type='${'A'.repeat(2 * 1024 * 1024)}'/>`));
    expect(e.code).toBe('limit');
    expect(e.message).toContain('attribute type is longer than 1048576 characters');
    expect(e.path).toBe('/domain');
  });

  it('too many elements are refused', () => {
    const e = refusal(() => readXml(`<d>${'<x/>'.repeat(50)}</d>`, { maxElements: 20 }));
    expect(e.code).toBe('limit');
  });

  it('malformed XML reports the line', () => {
    const e = refusal(() => readXml('<domain>\n  <name>x</nam>\n</domain>'));
    expect(e.code).toBe('malformed');
    expect(e.line).toBe(2);
  });

  it('a corpus of malformed documents: each is a typed error, never a crash', () => {
    const corpus = [
      '',
      '   ',
      '<a/><b/>',
      'text<a/>',
      '<a>\u0000</a>',
      '<a b="1" b="2"/>',
      '<a>&#0;</a>',
      '<a>]]></a>',
      '<a',
      '<a></b>',
      '<!-- x',
    ];
    for (const xml of corpus) {
      const e = refusal(() => readXml(xml));
      expect(e.code).toBe('malformed');
      expect(e.line).toBe(1);
    }
  });
});
