import type { XmlMode } from './mode.js';
import type { XmlLimits } from './xml/limits.js';

/** Options common to the parse functions. */
export interface ParseOptions {
  /** Which form the document is in (default `inactive`, libvirt's config form). */
  mode?: XmlMode;
  /** Bounds on the document (size, depth, ...); defaults are in `DEFAULT_XML_LIMITS`. */
  limits?: Partial<XmlLimits>;
  /**
   * Accept Strata's replication and quorum extension (`type='quorum'`, `type='replication'`,
   * `<reference>`, `<replicationDisk>`, a snapshot disk's `<mirror>`). Default true; set false to
   * accept exactly what upstream libvirt accepts.
   */
  extensions?: boolean;
}

/** Options common to the format functions. */
export interface FormatOptions {
  /** Which form to write (default `inactive`). */
  mode?: XmlMode;
}
