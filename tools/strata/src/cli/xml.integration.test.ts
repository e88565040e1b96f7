import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMAIN, LIVE_DOMAIN } from './test-documents.js';

// Runs the built `strata` program as a user would, with xmllint and libvirt 9.0's schemas.
const BIN = fileURLToPath(new URL('../../bin/strata.js', import.meta.url));

function schemas(): string {
  const dir = process.env.STRATA_LIBVIRT_SCHEMAS;
  if (!dir) {
    throw new Error(
      'STRATA_LIBVIRT_SCHEMAS is not set. Get libvirt 9.0 schemas with: apt-get download libvirt0 && ' +
        'dpkg -x libvirt0_*.deb /tmp/libvirt0 && export STRATA_LIBVIRT_SCHEMAS=/tmp/libvirt0/usr/share/libvirt/schemas',
    );
  }
  try {
    execFileSync('xmllint', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('xmllint is missing; install it with: apt-get install -y libxml2-utils');
  }
  return dir;
}

function strata(args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, STRATA_LIBVIRT_SCHEMAS: schemas() } },
      (error, out, err) => {
        resolve({ status: error ? Number(error.code ?? 1) : 0, out: String(out), err: String(err) });
      },
    );
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-cli-int-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('strata xml validate with xmllint', () => {
  it('a valid domain passes the schema check', async () => {
    const path = join(dir, 'ok.xml');
    await writeFile(path, DOMAIN);
    const r = await strata(['xml', 'validate', path]);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toContain("schema: libvirt 9.0 + Strata's extension");
  });

  it('a live document passes in the live form', async () => {
    const path = join(dir, 'live.xml');
    await writeFile(path, LIVE_DOMAIN);
    expect((await strata(['xml', 'validate', '--live', path])).status).toBe(0);
  });

  it("a document the model accepts but the schema refuses fails with xmllint's message", async () => {
    const path = join(dir, 'schema-bad.xml');
    // A <vcpu> libvirt's grammar refuses (placement must be static or auto); the model carries it.
    await writeFile(
      path,
      DOMAIN.replace("<vcpu placement='static'>1</vcpu>", "<vcpu placement='sometimes'>1</vcpu>"),
    );
    const r = await strata(['xml', 'validate', path]);
    expect(r.status).toBe(1);
    expect(r.err).toContain('schema:');
    expect(r.err).toContain('invalid');
  });

  it('format output of a loose document validates', async () => {
    const loose = join(dir, 'fmt.xml');
    await writeFile(loose, DOMAIN.replace(/'/g, '"'));
    const formatted = await strata(['xml', 'format', loose]);
    expect(formatted.status).toBe(0);
    const again = join(dir, 'fmt-out.xml');
    await writeFile(again, formatted.out);
    expect((await strata(['xml', 'validate', again])).status).toBe(0);
  });
});
