import { escapeLibvirt, escapeLibxml2Attribute, escapeLibxml2Text } from './escape.js';
import type { XmlElement } from './tree.js';

/** An attribute to write; entries whose value is undefined are skipped, as libvirt skips unset ones. */
export type AttributeSpec = readonly [name: string, value: string | number | undefined];

/**
 * Writes XML the way libvirt's formatters do: two spaces of indentation per level, attributes
 * single-quoted in the order given, childless elements self-closed, and elements with neither
 * attributes nor children left out when asked (libvirt's "elide empty element" rule).
 */
export class LibvirtXmlWriter {
  private readonly lines: string[] = [];

  constructor(private readonly depth = 0) {}

  /** True when nothing has been written. */
  get isEmpty(): boolean {
    return this.lines.length === 0;
  }

  /** The document text; libvirt ends every line, including the last, with a newline. */
  toString(): string {
    return this.lines.length === 0 ? '' : `${this.lines.join('\n')}\n`;
  }

  /** Appends a raw, already indented line produced by a child writer. */
  private push(line: string): void {
    this.lines.push(line);
  }

  private pad(): string {
    return '  '.repeat(this.depth);
  }

  /** Writes `<name attrs/>` (or `<name attrs>children</name>` when `children` writes something). */
  element(
    name: string,
    attributes: readonly AttributeSpec[],
    children?: (w: LibvirtXmlWriter) => void,
    options: { omitWhenEmpty?: boolean } = {},
  ): void {
    const attrText = formatAttributes(attributes);
    const inner = new LibvirtXmlWriter(this.depth + 1);
    children?.(inner);
    if (inner.isEmpty) {
      if (options.omitWhenEmpty && attrText === '') return;
      this.push(`${this.pad()}<${name}${attrText}/>`);
      return;
    }
    this.push(`${this.pad()}<${name}${attrText}>`);
    for (const line of inner.lines) this.push(line);
    this.push(`${this.pad()}</${name}>`);
  }

  /** Writes `<name attrs>text</name>`; nothing when text is undefined. */
  textElement(
    name: string,
    value: string | number | undefined,
    attributes: readonly AttributeSpec[] = [],
  ): void {
    if (value === undefined) return;
    this.push(
      `${this.pad()}<${name}${formatAttributes(attributes)}>${escapeLibvirt(String(value))}</${name}>`,
    );
  }

  /**
   * Writes an element the model carries without typing it. Whitespace-only text between child
   * elements is re-indented; other text is kept as it was.
   */
  generic(el: XmlElement, style: 'libvirt' | 'libxml2' = 'libvirt'): void {
    const quote = style === 'libvirt' ? "'" : '"';
    const escAttr = style === 'libvirt' ? escapeLibvirt : escapeLibxml2Attribute;
    const escText = style === 'libvirt' ? escapeLibvirt : escapeLibxml2Text;
    const attrText = el.attributes.map(([k, v]) => ` ${k}=${quote}${escAttr(v)}${quote}`).join('');
    const hasElements = el.children.some((c) => c.kind === 'element');
    const hasText = el.children.some((c) => c.kind === 'text' && c.text.trim() !== '');
    if (!hasElements && !hasText) {
      const onlyText = el.children.map((c) => (c.kind === 'text' ? c.text : '')).join('');
      if (onlyText === '') this.push(`${this.pad()}<${el.name}${attrText}/>`);
      else this.push(`${this.pad()}<${el.name}${attrText}>${escText(onlyText)}</${el.name}>`);
      return;
    }
    if (!hasElements) {
      const value = el.children.map((c) => (c.kind === 'text' ? c.text : '')).join('');
      this.push(`${this.pad()}<${el.name}${attrText}>${escText(value)}</${el.name}>`);
      return;
    }
    if (hasText) {
      // Mixed content: indentation would change the text, so write it on one line as it was.
      this.push(`${this.pad()}${inlineGeneric(el, quote, escAttr, escText)}`);
      return;
    }
    this.push(`${this.pad()}<${el.name}${attrText}>`);
    const inner = new LibvirtXmlWriter(this.depth + 1);
    for (const child of el.children) if (child.kind === 'element') inner.generic(child, style);
    for (const line of inner.lines) this.push(line);
    this.push(`${this.pad()}</${el.name}>`);
  }
}

function inlineGeneric(
  el: XmlElement,
  quote: string,
  escAttr: (v: string) => string,
  escText: (v: string) => string,
): string {
  const attrText = el.attributes.map(([k, v]) => ` ${k}=${quote}${escAttr(v)}${quote}`).join('');
  if (el.children.length === 0) return `<${el.name}${attrText}/>`;
  const inner = el.children
    .map((c) => (c.kind === 'text' ? escText(c.text) : inlineGeneric(c, quote, escAttr, escText)))
    .join('');
  return `<${el.name}${attrText}>${inner}</${el.name}>`;
}

/** Formats attributes as libvirt does: ` name='value'` for every defined value, in order. */
export function formatAttributes(attributes: readonly AttributeSpec[]): string {
  let out = '';
  for (const [name, value] of attributes) {
    if (value === undefined) continue;
    out += ` ${name}='${escapeLibvirt(String(value))}'`;
  }
  return out;
}
