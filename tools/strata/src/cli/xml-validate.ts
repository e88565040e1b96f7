import { validateDomain, validateSnapshot, validateWithSchema, XmlModelError } from '@strata/xml-model';
import { loadDocument, readDocumentText } from './document.js';
import { type CliContext, EXIT, UsageError } from './io.js';
import { parseArgs } from './options.js';
import { modeFrom, MODE_FLAGS } from './modes.js';

export const VALIDATE_USAGE = `usage: strata xml validate FILE [options]

Checks a libvirt <domain>, <domainsnapshot> or <disk> document: parse rules, semantic checks
(unique targets and indexes, references that resolve, replication shapes) and, when libvirt's
schemas are available, xmllint against libvirt 9.0's RNG plus Strata's extension.

options:
  --inactive | --live | --status   the form the document is in (default --inactive)
  --redefine                       read a snapshot as existing metadata (libvirt's REDEFINE)
  --internal                       read a snapshot in libvirt's private metadata form
  --libvirt-only                   refuse Strata's replication/quorum extensions
  --source-only                    read a bare <disk> as a storage description (no <target>)
  --schemas DIR                    libvirt's schema directory (default $STRATA_LIBVIRT_SCHEMAS)
  --require-schema                 fail when the schema check cannot run
`;

/** `strata xml validate FILE`: exit 0 when valid, 1 with located messages when not. */
export async function xmlValidate(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = parseArgs(
    args,
    [...MODE_FLAGS, 'redefine', 'internal', 'libvirt-only', 'source-only', 'require-schema', 'help'],
    ['schemas'],
  );
  if (parsed.flags.has('help')) {
    ctx.stdout(VALIDATE_USAGE);
    return EXIT.ok;
  }
  if (parsed.operands.length !== 1) throw new UsageError('xml validate takes exactly one FILE');
  const file = parsed.operands[0]!;
  const mode = modeFrom(parsed.flags);
  const extensions = !parsed.flags.has('libvirt-only');
  const problems: string[] = [];
  let kindLabel = '';
  let schemaNote = '';
  let formLabel: string = mode;
  try {
    const text = await readDocumentText(file);
    const doc = loadDocument(text, {
      mode,
      redefine: parsed.flags.has('redefine'),
      internal: parsed.flags.has('internal'),
      extensions,
      sourceOnly: parsed.flags.has('source-only'),
    });
    kindLabel = doc.kind;
    const semantic =
      doc.kind === 'domain'
        ? validateDomain(doc.domain)
        : doc.kind === 'status'
          ? validateDomain(doc.status.domain)
          : doc.kind === 'snapshot'
            ? validateSnapshot(doc.snapshot)
            : [];
    problems.push(...semantic.map((p) => p.message));
    const schemas = parsed.values.get('schemas') ?? ctx.env.STRATA_LIBVIRT_SCHEMAS;
    const form = doc.kind === 'status' ? 'status' : mode;
    formLabel = form;
    if (doc.kind === 'disk') schemaNote = 'schema check skipped: libvirt has no grammar for a bare <disk>';
    else if (form === 'status') schemaNote = 'schema check skipped: libvirt has no grammar for status XML';
    else if (!schemas) {
      schemaNote = 'schema check skipped: set STRATA_LIBVIRT_SCHEMAS or pass --schemas DIR';
      if (parsed.flags.has('require-schema')) problems.push(schemaNote);
    } else {
      const result = await validateWithSchema(text, doc.kind === 'snapshot' ? 'domainsnapshot' : 'domain', {
        libvirtSchemas: schemas,
        extensions,
      });
      schemaNote = extensions ? "schema: libvirt 9.0 + Strata's extension" : 'schema: libvirt 9.0';
      if (!result.valid) problems.push(...result.messages.map((m) => `schema: ${m}`));
    }
  } catch (error) {
    if (!(error instanceof XmlModelError)) throw error;
    problems.push(error.message);
  }
  if (problems.length > 0) {
    for (const p of problems) ctx.stderr(`${file}: ${p}\n`);
    ctx.stderr(`${file}: invalid\n`);
    return EXIT.invalid;
  }
  ctx.stdout(`${file}: valid ${kindLabel} (${formLabel} form; ${schemaNote})\n`);
  return EXIT.ok;
}
