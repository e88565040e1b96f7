import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XmlModelError } from '../errors.js';

/** Which grammar a document is checked against. */
export type SchemaKind = 'domain' | 'domainsnapshot';

/** Options of {@link validateWithSchema}. */
export interface SchemaValidationOptions {
  /** Directory holding libvirt's `domain.rng`, `domainsnapshot.rng` and their includes. */
  libvirtSchemas: string;
  /**
   * Also accept Strata's replication/quorum extension (default true). With false the document
   * is checked against libvirt's grammar alone.
   */
  extensions?: boolean;
  /** The xmllint program (default `xmllint` on PATH). */
  xmllint?: string;
}

/** Result of a schema check. */
export interface SchemaResult {
  valid: boolean;
  /** xmllint's diagnostics, one per line, with the temporary file name replaced by `document`. */
  messages: string[];
}

/** Strata's extension grammars shipped with the package (`schemas/`). */
export function schemaFiles(): { directory: string; domain: string; domainsnapshot: string } {
  const directory = fileURLToPath(new URL('../../schemas/', import.meta.url));
  return {
    directory,
    domain: join(directory, 'strata-domain.rng'),
    domainsnapshot: join(directory, 'strata-domainsnapshot.rng'),
  };
}

const INSTALL_HINT = 'install xmllint with: apt-get install -y libxml2-utils';

function run(program: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(
          new XmlModelError(`${program} not found; ${INSTALL_HINT}`, {
            code: 'validator-unavailable',
            cause: error,
          }),
        );
        return;
      }
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

/**
 * Validates a document with xmllint against libvirt's RelaxNG grammar (plus Strata's extension
 * grammar, which includes libvirt's and adds the replication/quorum elements). libvirt's schemas
 * and Strata's are copied side by side into a temporary directory so the includes resolve.
 */
export async function validateWithSchema(
  xml: string,
  kind: SchemaKind,
  options: SchemaValidationOptions,
): Promise<SchemaResult> {
  const work = await mkdtemp(join(tmpdir(), 'strata-rng-'));
  try {
    let names: string[];
    try {
      names = (await readdir(options.libvirtSchemas)).filter((n) => n.endsWith('.rng'));
    } catch (cause) {
      throw new XmlModelError(`cannot read libvirt schemas in ${options.libvirtSchemas}`, {
        code: 'validator-unavailable',
        cause,
      });
    }
    if (!names.includes(`${kind}.rng`)) {
      throw new XmlModelError(`${kind}.rng not found in ${options.libvirtSchemas}`, {
        code: 'validator-unavailable',
      });
    }
    for (const name of names) await copyFile(join(options.libvirtSchemas, name), join(work, name));
    const ours = schemaFiles();
    for (const name of await readdir(ours.directory)) {
      if (name.endsWith('.rng')) await copyFile(join(ours.directory, name), join(work, name));
    }
    const documentPath = join(work, 'document.xml');
    await writeFile(documentPath, xml);
    const schema = join(work, options.extensions === false ? `${kind}.rng` : `strata-${kind}.rng`);
    const { code, stderr } = await run(options.xmllint ?? 'xmllint', [
      '--noout',
      '--nonet',
      '--relaxng',
      schema,
      documentPath,
    ]);
    const messages = stderr
      .split('\n')
      .map((line) => line.split(documentPath).join('document').split(`${work}/`).join(''))
      .filter((line) => line.trim() !== '' && line.trim() !== 'document validates');
    return { valid: code === 0, messages };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
