/**
 * Bounds applied to every document before and while it is parsed. XML from users is untrusted:
 * these keep a hostile document from exhausting memory or the stack.
 */
export interface XmlLimits {
  /** Largest accepted document, in UTF-16 code units of the input string (default 8 MiB). */
  maxDocumentLength: number;
  /** Deepest element nesting (default 256, libxml2's default bound). */
  maxDepth: number;
  /** Longest attribute value or text run (default 1 MiB). */
  maxValueLength: number;
  /** Most elements in one document (default 200 000). */
  maxElements: number;
  /** Most attributes on one element (default 256). */
  maxAttributes: number;
}

/** The defaults used when a caller gives no limits. */
export const DEFAULT_XML_LIMITS: Readonly<XmlLimits> = Object.freeze({
  maxDocumentLength: 8 * 1024 * 1024,
  maxDepth: 256,
  maxValueLength: 1024 * 1024,
  maxElements: 200_000,
  maxAttributes: 256,
});
