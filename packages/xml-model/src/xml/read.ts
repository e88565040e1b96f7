import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { XmlModelError } from '../errors.js';
import { DEFAULT_XML_LIMITS, type XmlLimits } from './limits.js';
import type { XmlAttribute, XmlElement, XmlNode } from './tree.js';

/** Size of the slices the input is fed to the parser in, so limits are checked as it grows. */
const CHUNK = 64 * 1024;

interface OpenElement {
  name: string;
  attributes: XmlAttribute[];
  children: XmlNode[];
  path: string;
  line: number;
  childCounts: Map<string, number>;
}

/**
 * Parses XML text into a tree. DTDs (and with them every entity definition and external entity)
 * are refused outright, as are processing instructions other than the XML declaration; only the
 * five predefined entities and character references are understood. Size, depth, value length
 * and element count are bounded by `limits`.
 */
export function readXml(source: string, limits: Partial<XmlLimits> = {}): XmlElement {
  const bounds: XmlLimits = { ...DEFAULT_XML_LIMITS, ...limits };
  if (source.length > bounds.maxDocumentLength) {
    throw new XmlModelError(
      `document of ${source.length} characters exceeds the limit of ${bounds.maxDocumentLength}`,
      { code: 'limit' },
    );
  }
  const parser = new SaxesParser({ xmlns: false, position: true });
  const stack: OpenElement[] = [];
  let root: XmlElement | undefined;
  let elementCount = 0;
  let failure: XmlModelError | undefined;

  const here = (): { path: string; line: number } => ({
    path: stack.length > 0 ? stack[stack.length - 1]!.path : '/',
    line: parser.line,
  });
  const fail = (error: XmlModelError): never => {
    failure ??= error;
    throw error;
  };

  parser.on('doctype', () => {
    fail(
      new XmlModelError('document type declarations (DTDs, entity definitions) are not accepted', {
        code: 'forbidden',
        ...here(),
      }),
    );
  });
  parser.on('processinginstruction', (pi) => {
    fail(
      new XmlModelError(`processing instruction <?${pi.target}?> is not accepted`, {
        code: 'forbidden',
        ...here(),
      }),
    );
  });
  parser.on('opentagstart', (tag) => {
    elementCount += 1;
    if (elementCount > bounds.maxElements) {
      fail(new XmlModelError(`more than ${bounds.maxElements} elements`, { code: 'limit', ...here() }));
    }
    if (stack.length + 1 > bounds.maxDepth) {
      fail(
        new XmlModelError(`element <${tag.name}> nested deeper than ${bounds.maxDepth} levels`, {
          code: 'limit',
          ...here(),
        }),
      );
    }
  });
  parser.on('opentag', (tag: SaxesTagPlain) => {
    const parent = stack[stack.length - 1];
    let path = `/${tag.name}`;
    if (parent) {
      const n = (parent.childCounts.get(tag.name) ?? 0) + 1;
      parent.childCounts.set(tag.name, n);
      path = `${parent.path}/${tag.name}[${n}]`;
    }
    const attributes: XmlAttribute[] = [];
    for (const [name, value] of Object.entries(tag.attributes)) {
      if (value.length > bounds.maxValueLength) {
        fail(
          new XmlModelError(`attribute ${name} is longer than ${bounds.maxValueLength} characters`, {
            code: 'limit',
            path,
            line: parser.line,
          }),
        );
      }
      attributes.push([name, value]);
    }
    if (attributes.length > bounds.maxAttributes) {
      fail(new XmlModelError(`more than ${bounds.maxAttributes} attributes`, { code: 'limit', path }));
    }
    stack.push({ name: tag.name, attributes, children: [], path, line: parser.line, childCounts: new Map() });
  });
  parser.on('closetag', () => {
    const open = stack.pop()!;
    const done: XmlElement = {
      kind: 'element',
      name: open.name,
      attributes: open.attributes,
      children: open.children,
      path: open.path,
      line: open.line,
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(done);
    else root = done;
  });
  const addText = (value: string): void => {
    const parent = stack[stack.length - 1];
    if (!parent) return; // whitespace around the root element
    if (value.length > bounds.maxValueLength) {
      fail(
        new XmlModelError(`text longer than ${bounds.maxValueLength} characters`, {
          code: 'limit',
          ...here(),
        }),
      );
    }
    const last = parent.children[parent.children.length - 1];
    if (last && last.kind === 'text')
      parent.children[parent.children.length - 1] = { kind: 'text', text: last.text + value };
    else parent.children.push({ kind: 'text', text: value });
  };
  parser.on('text', addText);
  parser.on('cdata', addText);
  parser.on('error', (err: Error) => {
    fail(
      new XmlModelError(`malformed XML: ${err.message}`, {
        code: 'malformed',
        line: parser.line,
        cause: err,
      }),
    );
  });

  try {
    for (let offset = 0; offset < source.length; offset += CHUNK) {
      parser.write(source.slice(offset, offset + CHUNK));
    }
    parser.close();
  } catch (error) {
    if (failure) throw failure;
    if (error instanceof XmlModelError) throw error;
    throw new XmlModelError(`malformed XML: ${(error as Error).message}`, {
      code: 'malformed',
      line: parser.line,
      cause: error,
    });
  }
  if (failure) throw failure;
  if (!root) throw new XmlModelError('document has no root element', { code: 'malformed' });
  return root;
}
