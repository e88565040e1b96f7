import { describe, expect, it } from 'vitest';
import { escapeLibvirt } from './escape.js';
import { readXml } from './read.js';
import { LibvirtXmlWriter } from './writer.js';

describe('libvirt escaping and layout', () => {
  it('escapes the five markup characters and drops control characters', () => {
    expect(escapeLibvirt(`a<b>c&d"e'f\u0001g\th\ni`)).toBe('a&lt;b&gt;c&amp;d&quot;e&apos;fg\th\ni');
  });

  it('writes single-quoted attributes, skips unset ones, self-closes and elides empty elements', () => {
    const w = new LibvirtXmlWriter();
    w.element(
      'outer',
      [
        ['a', "it's"],
        ['b', undefined],
        ['c', 3],
      ],
      (o) => {
        o.element('empty', [], undefined, { omitWhenEmpty: true });
        o.element('kept', []);
        o.textElement('t', 'x<y');
      },
    );
    expect(w.toString()).toBe("<outer a='it&apos;s' c='3'>\n  <kept/>\n  <t>x&lt;y</t>\n</outer>\n");
  });

  it('character references and predefined entities are read, nothing else', () => {
    const el = readXml("<a v='&#x41;&lt;&#66;'>&amp;&#x1F600;</a>");
    expect(el.attributes).toEqual([['v', 'A<B']]);
    expect(el.children).toEqual([{ kind: 'text', text: '&\u{1F600}' }]);
  });

  it('re-indents carried elements at any depth', () => {
    const w = new LibvirtXmlWriter(2);
    w.generic(readXml('<x><y  a="1"><z/></y>\n\n<w>t</w></x>'));
    expect(w.toString()).toBe(
      "    <x>\n      <y a='1'>\n        <z/>\n      </y>\n      <w>t</w>\n    </x>\n",
    );
  });
});
