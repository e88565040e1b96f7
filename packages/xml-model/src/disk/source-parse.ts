import { errorAt, enumAttr, parseUnsigned } from '../xml/fail.js';
import { attr, childElements, firstChild, type XmlAttribute, type XmlElement } from '../xml/tree.js';
import { isRuntimeMode, type XmlMode } from '../mode.js';
import { parseScaledBytes } from './scaled.js';
import {
  type BackingStore,
  emptySource,
  IMAGE_FORMATS,
  type ImageFormat,
  NETWORK_PROTOCOLS,
  type NetworkHost,
  STORAGE_TYPES,
  type StorageSource,
  type StorageType,
} from './types.js';

/** What a `<source>` belongs to; decides which attributes are allowed. */
export type SourceRole = 'disk' | 'chain' | 'mirror' | 'snapshot';

/** Settings shared by the source parsers. */
export interface SourceParseContext {
  mode: XmlMode;
  /** Accept Strata's `quorum` / `replication` types and `<reference>`. */
  extensions: boolean;
  /**
   * Keep `index` even in the inactive form. Set inside Strata's replication and quorum disks,
   * whose chain elements are named by `<reference>` and so need stable indexes in every form.
   */
  keepIndexes?: boolean;
  /** libvirt's DISK_SOURCE parse: a disk without `<target>` is accepted. */
  sourceOnly?: boolean;
}

/** True when `index` attributes are read in this context. */
export function readsIndexes(ctx: SourceParseContext): boolean {
  return isRuntimeMode(ctx.mode) || ctx.keepIndexes === true;
}

/** Attributes of `<source>` the parser types, per storage type (everything else is carried). */
const TYPED_SOURCE_ATTRIBUTES: Record<StorageType, readonly string[]> = {
  file: ['file', 'fdgroup'],
  block: ['dev'],
  dir: ['dir'],
  network: ['protocol', 'name', 'tls'],
  volume: ['pool', 'volume', 'mode'],
  nvme: ['type', 'managed', 'namespace'],
  vhostuser: [],
  quorum: ['threshold', 'readPattern'],
  replication: ['mode'],
};

/** Reads a storage type attribute value. */
export function parseStorageType(el: XmlElement, value: string, ctx: SourceParseContext): StorageType {
  if (!(STORAGE_TYPES as readonly string[]).includes(value)) {
    throw errorAt(el, `unknown storage source type '${value}'`, 'invalid-value', 'VIR_ERR_XML_ERROR');
  }
  if (!ctx.extensions && (value === 'quorum' || value === 'replication')) {
    throw errorAt(
      el,
      `storage type '${value}' is a Strata extension and is not accepted here`,
      'unsupported',
    );
  }
  return value as StorageType;
}

/** Reads an image format name. */
export function parseImageFormat(el: XmlElement, value: string, what: string): ImageFormat {
  if (value === 'aio') return 'raw'; // libvirt's back-compat spelling of raw
  if (!(IMAGE_FORMATS as readonly string[]).includes(value)) {
    throw errorAt(el, `unknown ${what} '${value}'`, 'invalid-value', 'VIR_ERR_XML_ERROR');
  }
  return value as ImageFormat;
}

/** Reads `<metadata_cache><max_size unit=>N</max_size></metadata_cache>` below `parent`. */
export function parseMetadataCache(parent: XmlElement): number | undefined {
  const cache = firstChild(parent, 'metadata_cache');
  if (!cache) return undefined;
  const max = firstChild(cache, 'max_size');
  if (!max) return undefined;
  const text = max.children.map((c) => (c.kind === 'text' ? c.text : '')).join('');
  return parseScaledBytes(max, text, attr(max, 'unit'));
}

function parseHost(el: XmlElement): NetworkHost {
  const host: NetworkHost = {};
  const name = attr(el, 'name');
  const port = attr(el, 'port');
  const transport = enumAttr(el, 'transport', ['tcp', 'unix', 'rdma'] as const, 'disk source host transport');
  const socket = attr(el, 'socket');
  if (transport === 'unix') {
    if (!socket) throw errorAt(el, 'missing socket for unix transport', 'missing');
    if (name !== undefined) throw errorAt(el, 'transport unix does not support a host name', 'invalid-value');
    host.transport = 'unix';
    host.socket = socket;
    return host;
  }
  if (socket !== undefined)
    throw errorAt(el, `transport '${transport ?? 'tcp'}' does not support socket attribute`);
  if (!name) throw errorAt(el, 'missing hostname for tcp transport', 'missing');
  host.name = name;
  if (port !== undefined && port !== '') host.port = String(parseUnsigned(el, port, 'port number', 65535));
  if (transport === 'rdma') host.transport = 'rdma';
  return host;
}

/**
 * Parses a `<source>` element into `into` (whose `type` is already set). `sourceEl` may be
 * absent (a disk without media); `role` decides whether `startupPolicy` is accepted.
 */
export function parseSourceElement(
  sourceEl: XmlElement | undefined,
  into: StorageSource,
  role: SourceRole,
  ctx: SourceParseContext,
): void {
  if (!sourceEl) return;
  const typed = new Set<string>([...TYPED_SOURCE_ATTRIBUTES[into.type], 'index', 'startupPolicy']);
  switch (into.type) {
    case 'file':
      into.path = attr(sourceEl, 'file');
      into.fdgroup = attr(sourceEl, 'fdgroup');
      break;
    case 'block':
      into.path = attr(sourceEl, 'dev');
      break;
    case 'dir':
      into.path = attr(sourceEl, 'dir');
      break;
    case 'network': {
      const protocol = attr(sourceEl, 'protocol');
      if (protocol === undefined) throw errorAt(sourceEl, 'missing network source protocol type', 'missing');
      if (protocol === 'ssh') {
        throw errorAt(
          sourceEl,
          "network protocol 'ssh' is not accepted by libvirt 9.0's domain schema",
          'unsupported',
        );
      }
      if (!(NETWORK_PROTOCOLS as readonly string[]).includes(protocol)) {
        throw errorAt(sourceEl, `unknown protocol type '${protocol}'`, 'invalid-value', 'VIR_ERR_XML_ERROR');
      }
      into.protocol = protocol as StorageSource['protocol'];
      into.path = attr(sourceEl, 'name');
      if (into.path === undefined && protocol !== 'nbd') {
        throw errorAt(sourceEl, `missing name for disk source protocol '${protocol}'`, 'missing');
      }
      into.tls = enumAttr(sourceEl, 'tls', ['yes', 'no'] as const, 'disk source tls setting');
      for (const hostEl of childElements(sourceEl, 'host')) into.hosts.push(parseHost(hostEl));
      if (protocol === 'nbd' && into.hosts.length > 1) {
        throw errorAt(sourceEl, 'protocol nbd accepts only one host', 'invalid-value');
      }
      break;
    }
    case 'volume':
      into.pool = attr(sourceEl, 'pool');
      into.volume = attr(sourceEl, 'volume');
      into.volumeMode = attr(sourceEl, 'mode');
      if (into.pool === undefined || into.volume === undefined) {
        throw errorAt(
          sourceEl,
          "'pool' and 'volume' must be specified together for a volume source",
          'missing',
        );
      }
      break;
    case 'nvme': {
      const nvme: XmlAttribute[] = [];
      for (const name of ['type', 'managed', 'namespace']) {
        const value = attr(sourceEl, name);
        if (value !== undefined) nvme.push([name, value]);
      }
      into.nvmeAttributes = nvme;
      break;
    }
    case 'quorum': {
      const threshold = attr(sourceEl, 'threshold');
      if (threshold === undefined) throw errorAt(sourceEl, 'quorum source needs a threshold', 'missing');
      const readPattern = enumAttr(
        sourceEl,
        'readPattern',
        ['quorum', 'fifo'] as const,
        'quorum read pattern',
      );
      into.quorum = { threshold: parseUnsigned(sourceEl, threshold, 'quorum threshold') };
      if (readPattern) into.quorum.readPattern = readPattern;
      break;
    }
    case 'replication': {
      const mode = enumAttr(sourceEl, 'mode', ['primary', 'secondary'] as const, 'replication mode');
      if (!mode) throw errorAt(sourceEl, 'replication source needs a mode (primary or secondary)', 'missing');
      into.replication = { mode };
      break;
    }
    case 'vhostuser':
      break;
  }
  const policy = attr(sourceEl, 'startupPolicy');
  if (policy !== undefined) {
    if (role !== 'disk') {
      throw errorAt(
        sourceEl,
        `startupPolicy is only allowed on a disk's own source, not on a ${role} source`,
        'unsupported',
      );
    }
    into.startupPolicy = enumAttr(
      sourceEl,
      'startupPolicy',
      ['mandatory', 'requisite', 'optional'] as const,
      'startupPolicy value',
    );
  }
  const index = attr(sourceEl, 'index');
  // A chain member's index is read from its <backingStore>; libvirt ignores one on its <source>.
  if (index !== undefined && readsIndexes(ctx) && role !== 'chain') {
    const n = parseUnsigned(sourceEl, index, 'disk index');
    if (n === 0) throw errorAt(sourceEl, `invalid disk index '${index}'`);
    into.index = n;
  }
  for (const [name, value] of sourceEl.attributes) {
    if (!typed.has(name)) into.extraAttributes.push([name, value]);
  }
  for (const child of childElements(sourceEl)) {
    if (child.name === 'host' && into.type === 'network') continue;
    if (child.name === 'slices') {
      for (const slice of childElements(child, 'slice')) {
        if (attr(slice, 'type') !== 'storage') throw errorAt(slice, 'unknown slice type', 'invalid-value');
        const offset = attr(slice, 'offset');
        const size = attr(slice, 'size');
        if (offset === undefined || size === undefined)
          throw errorAt(slice, 'slice needs offset and size', 'missing');
        into.slices.push({
          offset: parseUnsigned(slice, offset, 'slice offset', Number.MAX_SAFE_INTEGER),
          size: parseUnsigned(slice, size, 'slice size', Number.MAX_SAFE_INTEGER),
        });
      }
      continue;
    }
    if (child.name === 'privateData' && ctx.mode !== 'status') continue; // status-only data
    into.extraElements.push(child);
  }
}

/** Parses the `<backingStore>` children of `parent` into the chain below `image`. */
export function parseBackingChain(parent: XmlElement, image: StorageSource, ctx: SourceParseContext): void {
  const stores = childElements(parent, 'backingStore');
  if (image.type === 'quorum' || image.type === 'replication') {
    if (image.reference) return;
    image.children = stores.map((store) => {
      const child = parseBackingElement(store, ctx);
      if (child.kind !== 'image') {
        throw errorAt(store, `a child of a ${image.type} node must be an image with a type`, 'missing');
      }
      return child.image;
    });
    if (image.type === 'quorum' && image.children.length === 0) {
      throw errorAt(parent, 'a quorum needs at least one <backingStore> child', 'missing');
    }
    if (image.type === 'replication' && image.children.length !== 1) {
      throw errorAt(
        parent,
        'a replication node needs exactly one <backingStore> child (its image)',
        'invalid-value',
      );
    }
    if (image.quorum && image.quorum.threshold > image.children.length) {
      throw errorAt(
        parent,
        `quorum threshold ${image.quorum.threshold} is larger than its ${image.children.length} children`,
        'invalid-value',
      );
    }
    if (image.quorum && image.quorum.threshold === 0)
      throw errorAt(parent, 'quorum threshold must be at least 1');
    return;
  }
  // libvirt reads only the first <backingStore> of an image.
  const first = stores[0];
  image.backingStore = first ? parseBackingElement(first, ctx) : { kind: 'unknown' };
}

/** Parses one `<backingStore>` element (terminator, image, or Strata reference). */
export function parseBackingElement(store: XmlElement, ctx: SourceParseContext): BackingStore {
  const typeValue = attr(store, 'type');
  if (typeValue === undefined) return { kind: 'end' };
  const type = parseStorageType(store, typeValue, ctx);
  const image = emptySource(type);
  const index = attr(store, 'index');
  if (index !== undefined && readsIndexes(ctx)) {
    const n = parseUnsigned(store, index, 'backing store index');
    if (n === 0) throw errorAt(store, `invalid backing store index '${index}'`);
    image.index = n;
  }
  const reference = firstChild(store, 'reference');
  if (type === 'replication' && reference) {
    const dev = attr(reference, 'dev');
    const refIndex = attr(reference, 'index');
    if (!dev || refIndex === undefined)
      throw errorAt(reference, '<reference> needs dev and index', 'missing');
    image.reference = { dev, index: parseUnsigned(reference, refIndex, 'reference index') };
    if (image.reference.index === 0) throw errorAt(reference, 'reference index must be at least 1');
    if (childElements(store).length !== 1) {
      throw errorAt(
        store,
        'a <backingStore> with a <reference> must have no other children',
        'invalid-value',
      );
    }
    return { kind: 'image', image };
  }
  const formatEl = firstChild(store, 'format');
  const sourceEl = firstChild(store, 'source');
  if (type !== 'quorum' && type !== 'replication') {
    const format = formatEl ? attr(formatEl, 'type') : undefined;
    if (format === undefined)
      throw errorAt(store, 'missing disk backing store format', 'missing', 'VIR_ERR_XML_ERROR');
    image.format = parseImageFormat(formatEl!, format, 'disk backing store format');
    image.metadataCacheMaxSize = parseMetadataCache(formatEl!);
    if (!sourceEl) throw errorAt(store, 'missing disk backing store source', 'missing', 'VIR_ERR_XML_ERROR');
  } else if (formatEl) {
    throw errorAt(formatEl, `a ${type} node has no image format`, 'invalid-value');
  } else if (!sourceEl) {
    throw errorAt(store, `missing ${type} source`, 'missing');
  }
  parseSourceElement(sourceEl, image, 'chain', ctx);
  parseBackingChain(store, image, ctx);
  return { kind: 'image', image };
}
