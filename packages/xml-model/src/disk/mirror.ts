import { isRuntimeMode } from '../mode.js';
import { enumAttr, errorAt } from '../xml/fail.js';
import { attr, firstChild, type XmlElement } from '../xml/tree.js';
import type { LibvirtXmlWriter } from '../xml/writer.js';
import {
  parseBackingChain,
  parseImageFormat,
  parseMetadataCache,
  parseSourceElement,
  parseStorageType,
  type SourceParseContext,
} from './source-parse.js';
import { type SourceFormatContext, writeBackingChain, writeFormat, writeSource } from './source-format.js';
import { emptySource, type MirrorDef } from './types.js';

/**
 * Parses `<mirror>`: the preferred form with `type=` and a `<source>`, or the pre-1.2.6 form
 * `<mirror file= format=>` that only block copy ever wrote. Ignored on inactive parses.
 */
export function parseMirror(el: XmlElement, ctx: SourceParseContext): MirrorDef | undefined {
  if (!isRuntimeMode(ctx.mode)) return undefined;
  const job = enumAttr(el, 'job', ['copy', 'active-commit'] as const, 'mirror job type') ?? 'copy';
  const ready = enumAttr(el, 'ready', ['yes', 'abort', 'pivot'] as const, 'mirror ready state');
  const typeValue = attr(el, 'type');
  const legacyFile = attr(el, 'file');
  const legacyFormat = attr(el, 'format');
  const sourceEl = firstChild(el, 'source');
  const formatEl = firstChild(el, 'format');
  let source: MirrorDef['source'];
  if (typeValue === undefined) {
    if (job !== 'copy') throw errorAt(el, 'mirror without type only supported by copy job', 'unsupported');
    if (!legacyFile) throw errorAt(el, 'mirror requires file name', 'missing');
    source = emptySource('file');
    source.path = legacyFile;
  } else {
    source = emptySource(parseStorageType(el, typeValue, ctx));
    if (sourceEl) parseSourceElement(sourceEl, source, 'mirror', ctx);
    else if (source.type === 'file' && legacyFile) source.path = legacyFile;
    else throw errorAt(el, 'mirror requires source element', 'missing');
  }
  const formatName = formatEl ? attr(formatEl, 'type') : legacyFormat;
  if (formatName !== undefined) {
    source.format = parseImageFormat(formatEl ?? el, formatName, 'mirror format');
    if (formatEl) source.metadataCacheMaxSize = parseMetadataCache(formatEl);
  }
  parseBackingChain(el, source, ctx);
  const mirror: MirrorDef = { job, source };
  if (ready) mirror.ready = ready;
  return mirror;
}

/** Writes `<mirror>` as libvirt does, including the legacy `file=`/`format=` of a file copy. */
export function writeMirror(w: LibvirtXmlWriter, mirror: MirrorDef, ctx: SourceFormatContext): void {
  if (!isRuntimeMode(ctx.mode)) return;
  const legacy = mirror.source.type === 'file' && mirror.job === 'copy';
  w.element(
    'mirror',
    [
      ['type', mirror.source.type],
      ['file', legacy ? mirror.source.path : undefined],
      ['format', legacy ? mirror.source.format : undefined],
      ['job', mirror.job],
      ['ready', mirror.ready],
    ],
    (m) => {
      writeFormat(m, mirror.source);
      writeSource(m, mirror.source, ctx);
      writeBackingChain(m, mirror.source, ctx);
    },
  );
}
