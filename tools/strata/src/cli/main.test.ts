import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './main.js';
import { BAD_SNAPSHOT, DANGLING_REFERENCE, DOMAIN, DOMAIN_LOOSE, LIVE_DOMAIN } from './test-documents.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function run(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const status = await main(argv, {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    env,
  });
  return { status, out, err };
}

describe('strata xml format', () => {
  it('writes the canonical form libvirt writes', async () => {
    const r = await run(['xml', 'format', await file('loose.xml', DOMAIN_LOOSE)]);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toBe(DOMAIN);
  });

  it('keeps runtime data in the live form and drops it for --output-mode inactive', async () => {
    const path = await file('live.xml', LIVE_DOMAIN);
    expect((await run(['xml', 'format', '--live', path])).out).toBe(LIVE_DOMAIN);
    expect((await run(['xml', 'format', '--live', '--output-mode', 'inactive', path])).out).toBe(DOMAIN);
    // Read as configuration, the runtime data is ignored from the start.
    expect((await run(['xml', 'format', path])).out).toBe(DOMAIN);
  });

  it('adds the QEMU driver defaults on request', async () => {
    const bare = DOMAIN.replace("<driver name='qemu' type='qcow2' cache='none'/>", '');
    const r = await run(['xml', 'format', '--qemu-defaults', await file('bare.xml', bare)]);
    expect(r.out).toContain("<driver name='qemu' type='raw'/>");
  });

  it('reports an unreadable document with its location and status 1', async () => {
    const r = await run(['xml', 'format', await file('broken.xml', DOMAIN.replace('</name>', '</nam>'))]);
    expect(r.status).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/broken\.xml: line 2: .*malformed XML/);
  });
});

describe('strata xml validate (semantic checks; schema checks are in the integration test)', () => {
  it('accepts a valid document and says the schema check was skipped', async () => {
    const r = await run(['xml', 'validate', await file('ok.xml', DOMAIN)]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/ok\.xml: valid domain \(inactive form; schema check skipped/);
  });

  it('fails when a schema check is required but cannot run', async () => {
    const r = await run(['xml', 'validate', '--require-schema', await file('ok2.xml', DOMAIN)]);
    expect(r.status).toBe(1);
    expect(r.err).toContain('STRATA_LIBVIRT_SCHEMAS');
  });

  it('rejects what libvirt rejects, naming element and line', async () => {
    const r = await run(['xml', 'validate', await file('bad-snap.xml', BAD_SNAPSHOT)]);
    expect(r.status).toBe(1);
    expect(r.err).toContain('line 5: /domainsnapshot/disks[1]/disk[1]/source[1]: startupPolicy');
  });

  it('reports a reference that resolves to nothing', async () => {
    const r = await run(['xml', 'validate', await file('dangling.xml', DANGLING_REFERENCE)]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("<reference dev='colo-vda' index='1'> does not name any chain element");
  });

  it('refuses replication disks with --libvirt-only', async () => {
    const r = await run([
      'xml',
      'validate',
      '--libvirt-only',
      await file('dangling2.xml', DANGLING_REFERENCE),
    ]);
    expect(r.status).toBe(1);
    expect(r.err).toContain('Strata extension');
  });

  it('reports a missing file', async () => {
    const r = await run(['xml', 'validate', join(dir, 'nope.xml')]);
    expect(r.status).toBe(1);
    expect(r.err).toContain('cannot read');
  });
});

describe('strata command line', () => {
  it('says other commands are not available yet', async () => {
    const r = await run(['snapshot-create-as', 'guest']);
    expect(r.status).toBe(2);
    expect(r.err).toContain("command 'snapshot-create-as' is not available yet");
  });

  it('usage errors exit with status 2', async () => {
    expect((await run(['xml', 'validate'])).status).toBe(2);
    expect((await run(['xml', 'format', '--bogus', 'x.xml'])).err).toContain('unknown option --bogus');
    expect((await run(['xml', 'format', '--live', '--status', 'x.xml'])).status).toBe(2);
    expect((await run(['xml', 'frobnicate'])).status).toBe(2);
  });

  it('prints help', async () => {
    const r = await run(['--help']);
    expect(r.status).toBe(0);
    expect(r.out).toContain('xml validate FILE');
  });
});

describe('bare disks', () => {
  const DISK =
    "<disk type='file' device='disk'>\n  <driver name='qemu' type='qcow2'/>\n  <source file='/img/a.qcow2'/>\n</disk>\n";

  it('need a target unless read with --source-only', async () => {
    const path = await file('disk.xml', DISK);
    const strict = await run(['xml', 'validate', path]);
    expect(strict.status).toBe(1);
    expect(strict.err).toContain('missing target information for device /img/a.qcow2');
    const loose = await run(['xml', 'format', '--source-only', path]);
    expect(loose.status).toBe(0);
    expect(loose.out).toBe(DISK);
  });
});

describe('status documents', () => {
  const STATUS = `<domstatus state='running' reason='booted' pid='1'>\n  <nodename index='3'/>\n${LIVE_DOMAIN.replace(
    /^/gm,
    '  ',
  )
    .replace(/^ {2}$/gm, '')
    .trimEnd()}\n  <agentTimeout>-2</agentTimeout>\n</domstatus>\n`;

  it('format back whole, private run-time data included, and validate semantically', async () => {
    const path = await file('status.xml', STATUS);
    const formatted = await run(['xml', 'format', path]);
    expect(formatted.err).toBe('');
    expect(formatted.out).toBe(STATUS);
    const checked = await run(['xml', 'validate', path]);
    expect(checked.status).toBe(0);
    expect(checked.out).toContain('libvirt has no grammar for status XML');
  });
});
