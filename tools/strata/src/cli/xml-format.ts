import {
  applyQemuDiskDefaults,
  formatDiskXml,
  formatDomainStatusXml,
  formatDomainXml,
  formatSnapshotXml,
  XmlModelError,
  type XmlMode,
} from '@strata/xml-model';
import { loadDocument, readDocumentText } from './document.js';
import { type CliContext, EXIT, UsageError } from './io.js';
import { MODE_FLAGS, modeFrom } from './modes.js';
import { parseArgs } from './options.js';

export const FORMAT_USAGE = `usage: strata xml format FILE [options]

Prints the document in the canonical form libvirt writes: two-space indentation, libvirt's
element and attribute order, empty elements self-closed, libvirt's escaping.

options:
  --inactive | --live | --status   the form the document is read in (default --inactive);
                                   a <domstatus> document is always read in the status form
  --output-mode MODE               write another form: inactive drops indexes, mirrors, ids
  --qemu-defaults                  add what libvirt's QEMU driver adds to disks (driver name,
                                   raw format, LUKS engine)
  --redefine, --internal           snapshot parse/format flags as libvirt's
  --domain-uuid UUID               write <domain><uuid> in a snapshot with no embedded domain
  --libvirt-only                   refuse Strata's replication/quorum extensions
  --source-only                    read a bare <disk> as a storage description (no <target>)
`;

/** `strata xml format FILE`: the canonical form on stdout. */
export async function xmlFormat(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = parseArgs(
    args,
    [...MODE_FLAGS, 'qemu-defaults', 'redefine', 'internal', 'libvirt-only', 'source-only', 'help'],
    ['output-mode', 'domain-uuid'],
  );
  if (parsed.flags.has('help')) {
    ctx.stdout(FORMAT_USAGE);
    return EXIT.ok;
  }
  if (parsed.operands.length !== 1) throw new UsageError('xml format takes exactly one FILE');
  const file = parsed.operands[0]!;
  const mode = modeFrom(parsed.flags);
  const outputMode = parsed.values.get('output-mode') ?? mode;
  if (!(MODE_FLAGS as readonly string[]).includes(outputMode)) {
    throw new UsageError(`--output-mode must be inactive, live or status (got '${outputMode}')`);
  }
  const out = outputMode as XmlMode;
  try {
    const doc = loadDocument(await readDocumentText(file), {
      mode,
      redefine: parsed.flags.has('redefine'),
      internal: parsed.flags.has('internal'),
      extensions: !parsed.flags.has('libvirt-only'),
      sourceOnly: parsed.flags.has('source-only'),
    });
    const qemu = parsed.flags.has('qemu-defaults');
    switch (doc.kind) {
      case 'domain': {
        if (qemu)
          for (const entry of doc.domain.devices ?? [])
            if (entry.kind === 'disk') entry.disk = applyQemuDiskDefaults(entry.disk);
        ctx.stdout(formatDomainXml(doc.domain, { mode: out }));
        break;
      }
      case 'status':
        if (qemu) {
          for (const entry of doc.status.domain.devices ?? [])
            if (entry.kind === 'disk') entry.disk = applyQemuDiskDefaults(entry.disk);
        }
        ctx.stdout(formatDomainStatusXml(doc.status));
        break;
      case 'disk':
        ctx.stdout(formatDiskXml(qemu ? applyQemuDiskDefaults(doc.disk) : doc.disk, { mode: out }));
        break;
      case 'snapshot': {
        const uuid = parsed.values.get('domain-uuid');
        ctx.stdout(
          formatSnapshotXml(doc.snapshot, {
            internal: parsed.flags.has('internal'),
            ...(uuid ? { domainUuid: uuid } : {}),
          }),
        );
        break;
      }
    }
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof XmlModelError)) throw error;
    ctx.stderr(`${file}: ${error.message}\n`);
    return EXIT.invalid;
  }
}
