import { describe, expect, it } from 'vitest';
import { lookupChainElement } from '../disk/chain.js';
import { domainDisks } from '../domain/disks.js';
import { formatDomainXml, parseDomainXml } from '../domain/domain-xml.js';
import { XmlModelError } from '../errors.js';
import { readExample } from '../test-support/examples.js';
import { validateDomain } from '../validate/semantic.js';

const PRIMARY = readExample('colo-primary.xml');
const SECONDARY = readExample('colo-secondary.xml');

function parseError(xml: string): XmlModelError {
  try {
    parseDomainXml(xml);
  } catch (error) {
    if (error instanceof XmlModelError) return error;
    throw error;
  }
  throw new Error('expected the document to be refused');
}

describe('COLO primary: quorum over the local image and a replication node', () => {
  it('formats back unchanged in the inactive and live forms', () => {
    for (const mode of ['inactive', 'live'] as const) {
      expect(formatDomainXml(parseDomainXml(PRIMARY, { mode }), { mode })).toBe(PRIMARY);
    }
  });

  it('models the node tree: quorum -> [file, replication(primary) -> nbd]', () => {
    const [disk] = domainDisks(parseDomainXml(PRIMARY));
    expect(disk?.source.type).toBe('quorum');
    expect(disk?.source.quorum).toEqual({ threshold: 1, readPattern: 'fifo' });
    const [local, replication] = disk?.source.children ?? [];
    expect(local?.path).toBe('/var/lib/strata/colo/vda.raw');
    expect(local?.backingStore.kind).toBe('end');
    expect(replication?.replication).toEqual({ mode: 'primary' });
    const nbd = replication?.children?.[0];
    expect(nbd?.protocol).toBe('nbd');
    expect(nbd?.hosts).toEqual([{ name: '192.0.2.2', port: '8889' }]);
    expect(validateDomain(parseDomainXml(PRIMARY))).toEqual([]);
  });

  it('keeps indexes in the inactive form so that vda[N] names a chain element', () => {
    const domain = parseDomainXml(PRIMARY, { mode: 'inactive' });
    expect(lookupChainElement(domain, 'vda[4]')?.image.protocol).toBe('nbd');
    expect(lookupChainElement(domain, 'vda[2]')?.image.path).toBe('/var/lib/strata/colo/vda.raw');
    expect(lookupChainElement(domain, 'vda[9]')).toBeUndefined();
  });
});

describe('COLO secondary: replication node over active and hidden images and a hidden disk', () => {
  it('formats back unchanged in the inactive and live forms', () => {
    for (const mode of ['inactive', 'live'] as const) {
      expect(formatDomainXml(parseDomainXml(SECONDARY, { mode }), { mode })).toBe(SECONDARY);
    }
  });

  it('resolves the reference to the disk the guest does not see', () => {
    const domain = parseDomainXml(SECONDARY);
    const [hidden, visible] = domainDisks(domain);
    expect(hidden?.element).toBe('replicationDisk');
    expect(hidden?.target).toBeUndefined();
    expect(visible?.source.replication).toEqual({ mode: 'secondary' });
    expect(validateDomain(domain)).toEqual([]);
    expect(lookupChainElement(domain, 'colo-vda[1]')?.image.path).toBe('/var/lib/strata/colo/vda.raw');
  });

  it('reports a reference that names no chain element', () => {
    const broken = SECONDARY.replace(
      "<reference dev='colo-vda' index='1'/>",
      "<reference dev='colo-vda' index='7'/>",
    );
    const problems = validateDomain(parseDomainXml(broken));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.code).toBe('unresolved');
    expect(problems[0]?.message).toContain("<reference dev='colo-vda' index='7'>");
  });

  it('reports a reference into the disk itself', () => {
    const broken = SECONDARY.replace(
      "<reference dev='colo-vda' index='1'/>",
      "<reference dev='vda' index='3'/>",
    );
    expect(validateDomain(parseDomainXml(broken)).map((p) => p.detail)).toContain(
      "<reference dev='vda'> points into its own disk",
    );
  });

  it('reports a secondary whose hidden image does not end in a reference', () => {
    const broken = SECONDARY.replace(
      "<backingStore type='replication'>\n            <reference dev='colo-vda' index='1'/>\n          </backingStore>",
      '<backingStore/>',
    );
    const problems = validateDomain(parseDomainXml(broken));
    expect(problems.map((p) => p.detail).join('\n')).toContain('must be backed by');
  });
});

describe('refused replication and quorum documents', () => {
  it('a quorum whose threshold exceeds its children', () => {
    const e = parseError(PRIMARY.replace("threshold='1'", "threshold='3'"));
    expect(e.message).toContain('quorum threshold 3 is larger than its 2 children');
    expect(e.path).toBe('/domain/devices[1]/disk[1]');
    expect(e.line).toBe(13);
  });

  it('a terminator where a quorum child belongs', () => {
    const e = parseError(
      PRIMARY.replace(
        "<backingStore type='file' index='2'>",
        "<backingStore/>\n      <backingStore type='file' index='2'>",
      ),
    );
    expect(e.detail).toBe('a child of a quorum node must be an image with a type');
    expect(e.line).toBe(16);
  });

  it('a replication node without a mode', () => {
    const e = parseError(PRIMARY.replace("<source mode='primary'/>", '<source/>'));
    expect(e.message).toContain('needs a mode');
  });

  it('a reference with other children', () => {
    const e = parseError(
      SECONDARY.replace(
        "<reference dev='colo-vda' index='1'/>",
        "<reference dev='colo-vda' index='1'/>\n<format type='raw'/>",
      ),
    );
    expect(e.message).toContain('must have no other children');
  });

  it('a primary replication child that is not NBD', () => {
    const notNbd = PRIMARY.replace(
      "protocol='nbd' name='colo-vda'",
      "protocol='gluster' name='vol/colo-vda'",
    );
    expect(
      validateDomain(parseDomainXml(notNbd))
        .map((p) => p.detail)
        .join(),
    ).toContain('protocol nbd');
  });

  it('everything Strata-specific when extensions are turned off', () => {
    expect(() => parseDomainXml(PRIMARY, { extensions: false })).toThrow(/Strata extension/);
    const noHidden = SECONDARY.replace(/<replicationDisk[\s\S]*<\/replicationDisk>\n/, '');
    expect(() => parseDomainXml(noHidden, { extensions: false })).toThrow(/Strata extension/);
  });
});

describe('semantic problems name the element like parse errors do', () => {
  it('duplicate targets and indexes', () => {
    const doubled = SECONDARY.replace(
      "<target dev='vda' bus='virtio'/>",
      "<target dev='colo-vda' bus='virtio'/>",
    ).replace("<backingStore type='file' index='2'>", "<backingStore type='file' index='3'>");
    const problems = validateDomain(parseDomainXml(doubled));
    expect(problems.map((p) => `${p.path}: ${p.detail}`)).toEqual([
      "/domain/devices[1]/disk[1]: target 'colo-vda' duplicated for disk sources",
      "/domain/devices[1]/disk[1]: index 3 is used twice in disk 'colo-vda'",
      "/domain/devices[1]/disk[1]: <reference dev='colo-vda'> points into its own disk",
    ]);
  });
});
