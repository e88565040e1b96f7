/**
 * A minimal XML tree: what the typed model is parsed from, and how elements the model does not
 * type are carried through unchanged. Attribute order is kept (libvirt's output order matters),
 * and every element remembers where it came from so errors can point at it.
 */

/** An attribute as written: name and already-unescaped value. */
export type XmlAttribute = readonly [name: string, value: string];

/** Character data (text or CDATA, unescaped). */
export interface XmlText {
  readonly kind: 'text';
  readonly text: string;
}

/** An element with its attributes in document order and its children. */
export interface XmlElement {
  readonly kind: 'element';
  readonly name: string;
  readonly attributes: XmlAttribute[];
  readonly children: XmlNode[];
  /** Path from the root, e.g. `/domain/devices/disk[2]`; empty for elements built in code. */
  readonly path: string;
  /** 1-based line of the start tag, when parsed from text. */
  readonly line?: number;
}

/** A node of the tree. Comments and processing instructions are not kept (libvirt drops them). */
export type XmlNode = XmlElement | XmlText;

/** Builds an element in code (no source location). */
export function element(name: string, attributes: XmlAttribute[] = [], children: XmlNode[] = []): XmlElement {
  return { kind: 'element', name, attributes, children, path: '' };
}

/** Builds a text node. */
export function text(value: string): XmlText {
  return { kind: 'text', text: value };
}

/** The value of an attribute, or undefined when absent. */
export function attr(el: XmlElement, name: string): string | undefined {
  for (const [key, value] of el.attributes) if (key === name) return value;
  return undefined;
}

/** Child elements, optionally only those with the given name. */
export function childElements(el: XmlElement, name?: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const child of el.children) {
    if (child.kind === 'element' && (name === undefined || child.name === name)) out.push(child);
  }
  return out;
}

/** The first child element with the given name. */
export function firstChild(el: XmlElement, name: string): XmlElement | undefined {
  for (const child of el.children) if (child.kind === 'element' && child.name === name) return child;
  return undefined;
}

/** Concatenated character data of the element's direct text children. */
export function textContent(el: XmlElement): string {
  let out = '';
  for (const child of el.children) if (child.kind === 'text') out += child.text;
  return out;
}

/** Deep structural copy (paths and lines are kept). */
export function cloneElement(el: XmlElement): XmlElement {
  return {
    ...el,
    attributes: el.attributes.map(([k, v]) => [k, v] as const),
    children: el.children.map((c) => (c.kind === 'element' ? cloneElement(c) : { ...c })),
  };
}
