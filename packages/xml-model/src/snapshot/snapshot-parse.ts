import { parseDomainElement } from '../domain/domain-parse.js';
import {
  parseImageFormat,
  parseMetadataCache,
  parseSourceElement,
  parseStorageType,
  type SourceParseContext,
} from '../disk/source-parse.js';
import { emptySource, SNAPSHOT_MODES, type StorageType } from '../disk/types.js';
import { enumAttr, errorAt } from '../xml/fail.js';
import { attr, childElements, firstChild, textContent, type XmlElement } from '../xml/tree.js';
import { SNAPSHOT_STATES, type SnapshotDef, type SnapshotDiskDef, type SnapshotState } from './types.js';

/** How a snapshot document is read, mirroring libvirt's parse flags. */
export interface SnapshotParseFlags {
  /** REDEFINE: metadata of an existing snapshot; honours state, parent, creationTime and domain. */
  redefine: boolean;
  /** INTERNAL: libvirt's private metadata file form, which carries `<active>`. */
  internal: boolean;
  /** Creation time to record for a new (not redefined) snapshot; seconds since the epoch. */
  creationTime: number;
  extensions: boolean;
}

const OFFLINE_STATES: readonly SnapshotState[] = ['shutoff', 'disk-snapshot'];

/** Parses a `<domainsnapshot>` element following libvirt's snapshot_conf.c rules. */
export function parseSnapshotElement(root: XmlElement, flags: SnapshotParseFlags): SnapshotDef {
  if (root.name !== 'domainsnapshot') {
    throw errorAt(
      root,
      `unexpected root element <${root.name}>, expecting <domainsnapshot>`,
      'invalid-value',
      'VIR_ERR_XML_ERROR',
    );
  }
  const ctx: SourceParseContext = { mode: 'inactive', extensions: flags.extensions };
  const def: SnapshotDef = { disks: [] };
  const text = (name: string): string | undefined => {
    const el = firstChild(root, name);
    return el ? textContent(el) : undefined;
  };
  def.name = text('name');
  def.description = text('description');
  let offline = false;
  if (flags.redefine) {
    if (def.name === undefined)
      throw errorAt(root, 'a redefined snapshot must have a name', 'missing', 'VIR_ERR_XML_ERROR');
    const creation = text('creationTime');
    if (creation === undefined || !/^-?[0-9]+$/.test(creation.trim())) {
      throw errorAt(
        firstChild(root, 'creationTime') ?? root,
        'missing creationTime from existing snapshot',
        'missing',
        'VIR_ERR_XML_ERROR',
      );
    }
    def.creationTime = Number(creation.trim());
    const parentEl = firstChild(root, 'parent');
    const parentName = parentEl ? firstChild(parentEl, 'name') : undefined;
    if (parentName) def.parent = textContent(parentName);
    const state = text('state');
    if (state === undefined)
      throw errorAt(root, 'missing state from existing snapshot', 'missing', 'VIR_ERR_XML_ERROR');
    if (!(SNAPSHOT_STATES as readonly string[]).includes(state)) {
      throw errorAt(
        firstChild(root, 'state'),
        `Invalid state '${state}' in domain snapshot XML`,
        'invalid-value',
        'VIR_ERR_XML_ERROR',
      );
    }
    def.state = state as SnapshotState;
    offline = OFFLINE_STATES.includes(def.state);
    const domainEl = firstChild(root, 'domain');
    // A uuid-only <domain> (old libvirt) is accepted but carries no definition.
    if (domainEl && attr(domainEl, 'type') !== undefined) def.domain = parseDomainElement(domainEl, ctx);
    const inactiveEl = firstChild(root, 'inactiveDomain');
    if (inactiveEl && attr(inactiveEl, 'type') !== undefined)
      def.inactiveDomain = parseDomainElement(inactiveEl, ctx);
    const cookie = firstChild(root, 'cookie');
    if (cookie) def.cookie = cookie;
  } else {
    def.creationTime = flags.creationTime;
    def.name ??= String(flags.creationTime);
  }
  parseMemory(root, def, offline, flags.redefine);
  const disksEl = firstChild(root, 'disks');
  if (disksEl) {
    for (const diskEl of childElements(disksEl, 'disk'))
      def.disks.push(parseSnapshotDisk(diskEl, ctx, flags.redefine));
  }
  if (flags.internal) {
    const active = text('active');
    if (active === undefined || !/^[0-9]+$/.test(active.trim())) {
      throw errorAt(root, "Could not find 'active' element", 'missing', 'VIR_ERR_INTERNAL_ERROR');
    }
    def.active = Number(active.trim()) !== 0;
  }
  if (def.name !== undefined && flags.redefine === false && def.name.includes('/')) {
    throw errorAt(firstChild(root, 'name'), `invalid snapshot name '${def.name}': name can't contain '/'`);
  }
  return def;
}

function parseMemory(root: XmlElement, def: SnapshotDef, offline: boolean, redefine: boolean): void {
  const memoryEl = firstChild(root, 'memory');
  let mode = memoryEl ? attr(memoryEl, 'snapshot') : undefined;
  const file = memoryEl ? attr(memoryEl, 'file') : undefined;
  if (mode !== undefined && !['no', 'internal', 'external'].includes(mode)) {
    throw errorAt(
      memoryEl,
      `unknown memory snapshot setting '${mode}'`,
      'invalid-value',
      'VIR_ERR_XML_ERROR',
    );
  }
  if (file !== undefined) {
    if (mode === undefined) mode = 'external';
    else if (mode !== 'external') {
      throw errorAt(
        memoryEl,
        `memory filename '${file}' requires external snapshot`,
        'invalid-value',
        'VIR_ERR_XML_ERROR',
      );
    }
    if (!file.startsWith('/')) {
      throw errorAt(
        memoryEl,
        `memory snapshot file path '${file}' must be absolute`,
        'invalid-value',
        'VIR_ERR_XML_ERROR',
      );
    }
  } else if (mode === 'external') {
    throw errorAt(memoryEl, 'external memory snapshots require a filename', 'missing', 'VIR_ERR_XML_ERROR');
  }
  if (mode === undefined && redefine) mode = offline ? 'no' : 'internal';
  if (offline && mode !== undefined && mode !== 'no') {
    throw errorAt(
      memoryEl,
      'memory state cannot be saved with offline or disk-only snapshot',
      'unsupported',
      'VIR_ERR_XML_ERROR',
    );
  }
  if (mode !== undefined) {
    def.memory = { snapshot: mode as 'no' | 'internal' | 'external' };
    if (file !== undefined) def.memory.file = file;
  }
}

function parseSnapshotDisk(el: XmlElement, ctx: SourceParseContext, redefine: boolean): SnapshotDiskDef {
  const name = attr(el, 'name');
  if (!name) throw errorAt(el, 'missing name from disk snapshot element', 'missing', 'VIR_ERR_XML_ERROR');
  const snapshot = enumAttr(el, 'snapshot', SNAPSHOT_MODES, 'disk snapshot setting');
  const typeValue = attr(el, 'type') ?? 'file';
  const type: StorageType = parseStorageType(el, typeValue, { ...ctx, extensions: false });
  if (type !== 'file' && type !== 'block' && type !== 'network') {
    throw errorAt(el, `unsupported disk snapshot type '${type}'`, 'unsupported', 'VIR_ERR_XML_ERROR');
  }
  const source = emptySource(type);
  const sourceEl = firstChild(el, 'source');
  parseSourceElement(sourceEl, source, 'snapshot', ctx);
  const driverEl = firstChild(el, 'driver');
  if (driverEl) {
    const format = attr(driverEl, 'type');
    if (format !== undefined) source.format = parseImageFormat(driverEl, format, 'disk snapshot driver');
    source.metadataCacheMaxSize = parseMetadataCache(driverEl);
  }
  if (source.path !== undefined && type !== 'network' && !source.path.startsWith('/')) {
    throw errorAt(
      sourceEl,
      `disk snapshot image path '${source.path}' must be absolute`,
      'invalid-value',
      'VIR_ERR_XML_ERROR',
    );
  }
  const disk: SnapshotDiskDef = { name, source, deleteInProgress: false };
  if (snapshot) disk.snapshot = snapshot;
  else if (source.path !== undefined || source.format !== undefined) disk.snapshot = 'external';
  if (redefine && firstChild(el, 'snapshotDeleteInProgress')) disk.deleteInProgress = true;
  const mirrorEl = firstChild(el, 'mirror');
  if (mirrorEl) {
    if (!ctx.extensions)
      throw errorAt(mirrorEl, 'a snapshot disk <mirror> is a Strata extension', 'unsupported');
    if (disk.snapshot !== 'external') {
      throw errorAt(mirrorEl, 'only an external snapshot disk can be mirrored', 'unsupported');
    }
    disk.mirror = parseSnapshotMirror(mirrorEl, ctx);
  }
  return disk;
}

function parseSnapshotMirror(el: XmlElement, ctx: SourceParseContext): SnapshotDiskDef['source'] {
  const type = parseStorageType(el, attr(el, 'type') ?? 'file', { ...ctx, extensions: false });
  if (type !== 'file' && type !== 'block' && type !== 'network') {
    throw errorAt(el, `unsupported snapshot mirror type '${type}'`, 'unsupported');
  }
  const source = emptySource(type);
  const sourceEl = firstChild(el, 'source');
  if (!sourceEl) throw errorAt(el, 'snapshot mirror requires a <source>', 'missing');
  parseSourceElement(sourceEl, source, 'mirror', ctx);
  const formatEl = firstChild(el, 'format');
  const format = formatEl ? attr(formatEl, 'type') : undefined;
  if (format === undefined)
    throw errorAt(el, 'snapshot mirror requires <format type=> (formats are never probed)', 'missing');
  source.format = parseImageFormat(formatEl!, format, 'snapshot mirror format');
  if (source.path === undefined) throw errorAt(sourceEl, 'snapshot mirror source needs a path', 'missing');
  if (type !== 'network' && !source.path.startsWith('/')) {
    throw errorAt(sourceEl, `snapshot mirror path '${source.path}' must be absolute`, 'invalid-value');
  }
  return source;
}
