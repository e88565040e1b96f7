/**
 * The single error family of @strata/xml-model. Every problem with a document — malformed XML,
 * a hostile construct, a value libvirt would refuse — is reported as an {@link XmlModelError}
 * that names the element path and, when known, the line, so a user can find it in their file.
 */

/** What kind of problem an {@link XmlModelError} reports. */
export type XmlModelErrorCode =
  /** The text is not well-formed XML. */
  | 'malformed'
  /** A bound on size, depth or count was exceeded. */
  | 'limit'
  /** A construct that is refused for safety (DTDs, entities, processing instructions). */
  | 'forbidden'
  /** A required element or attribute is missing. */
  | 'missing'
  /** An attribute or element has a value libvirt does not accept. */
  | 'invalid-value'
  /** A combination the model understands but refuses, as libvirt does. */
  | 'unsupported'
  /** A cross-reference (such as `<reference dev= index=>`) does not resolve. */
  | 'unresolved'
  /** The document failed schema validation (xmllint against libvirt's RNG). */
  | 'schema'
  /** The schema validator itself could not run (xmllint missing, schemas not found). */
  | 'validator-unavailable';

/** libvirt error codes the problems map to, so callers can mirror libvirt's API errors. */
export type LibvirtErrorCode =
  | 'VIR_ERR_XML_ERROR'
  | 'VIR_ERR_XML_DETAIL'
  | 'VIR_ERR_XML_INVALID_SCHEMA'
  | 'VIR_ERR_CONFIG_UNSUPPORTED'
  | 'VIR_ERR_NO_TARGET'
  | 'VIR_ERR_INVALID_ARG'
  | 'VIR_ERR_INTERNAL_ERROR';

/** Where in the document a problem was found. */
export interface XmlLocation {
  /** Element path such as `/domain/devices/disk[2]/source`. */
  path?: string;
  /** 1-based line of the element's start tag, when the document was parsed from text. */
  line?: number;
}

/** Options for constructing an {@link XmlModelError}. */
export interface XmlModelErrorOptions extends XmlLocation {
  code: XmlModelErrorCode;
  libvirtCode?: LibvirtErrorCode;
  cause?: unknown;
}

/**
 * The error thrown by every parse, validate and format function of this package. The message
 * starts with the location (`line 12: /domain/devices/disk[1]/source: ...`).
 */
export class XmlModelError extends Error {
  override readonly name = 'XmlModelError';
  /** Discriminates the kind of problem. */
  readonly code: XmlModelErrorCode;
  /** The libvirt error code libvirt reports for the same problem. */
  readonly libvirtCode: LibvirtErrorCode;
  /** Element path of the offending element, if known. */
  readonly path: string | undefined;
  /** 1-based line number of the offending element, if known. */
  readonly line: number | undefined;
  /** The bare description, without the location prefix. */
  readonly detail: string;
  /** Retrying the same input cannot help: documents are data. */
  readonly retryable = false;

  constructor(detail: string, options: XmlModelErrorOptions) {
    const where = [options.line !== undefined ? `line ${options.line}` : undefined, options.path]
      .filter((part) => part !== undefined)
      .join(': ');
    super(
      where ? `${where}: ${detail}` : detail,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.code = options.code;
    this.libvirtCode = options.libvirtCode ?? defaultLibvirtCode(options.code);
    this.path = options.path;
    this.line = options.line;
    this.detail = detail;
  }
}

function defaultLibvirtCode(code: XmlModelErrorCode): LibvirtErrorCode {
  switch (code) {
    case 'malformed':
    case 'limit':
    case 'forbidden':
      return 'VIR_ERR_XML_ERROR';
    case 'schema':
      return 'VIR_ERR_XML_INVALID_SCHEMA';
    case 'unsupported':
      return 'VIR_ERR_CONFIG_UNSUPPORTED';
    case 'unresolved':
      return 'VIR_ERR_INVALID_ARG';
    case 'validator-unavailable':
      return 'VIR_ERR_INTERNAL_ERROR';
    default:
      return 'VIR_ERR_XML_DETAIL';
  }
}
