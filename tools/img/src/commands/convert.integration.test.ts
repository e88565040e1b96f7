import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, qemuImg, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { buildChain, create, ioWrite } from '../test-support/scenarios.js';

// strata-img converts; qemu-img compare and qemu-img check judge the result.
let dir: string;
let remove: () => void;

beforeAll(() => {
  requirePeers();
  ({ dir, remove } = tempDir());
  buildChain(dir);
  create(dir, ['-f', 'raw', 'disk.raw', '6M']);
  ioWrite(dir, 'disk.raw', 'raw', ['write -P 0x11 0 1M', 'write -P 0x22 3M 5000', 'write -z 512k 64k']);
});

afterAll(() => remove?.());

function identical(a: string, b: string, extra: string[] = []): void {
  const result = qemuImg(['compare', ...extra, a, b], dir);
  expect(result.stdout).toBe('Images are identical.\n');
  expect(result.status).toBe(0);
}

function clean(image: string): void {
  const result = qemuImg(['check', image], dir);
  expect(result.stdout).toContain('No errors were found on the image.');
  expect(result.status).toBe(0);
}

describe('convert', () => {
  it('qcow2 chain to raw reads the same as the chain', () => {
    must(strataImg(['convert', '-O', 'raw', 'top.qcow2', 'flat.raw'], dir), 'convert');
    identical('top.qcow2', 'flat.raw');
  });

  it('raw to qcow2 writes a clean, sparse image', () => {
    must(strataImg(['convert', '-f', 'raw', '-O', 'qcow2', 'disk.raw', 'from-raw.qcow2'], dir), 'convert');
    identical('disk.raw', 'from-raw.qcow2');
    clean('from-raw.qcow2');
    const map = JSON.parse(qemuImg(['map', '--output=json', 'from-raw.qcow2'], dir).stdout) as Array<{
      data: boolean;
      length: number;
    }>;
    const dataBytes = map.filter((e) => e.data).reduce((sum, e) => sum + e.length, 0);
    expect(dataBytes).toBeLessThan(2 * 1024 * 1024);
  });

  it('flattens a three-deep chain into one qcow2 image, as qemu-img does', () => {
    must(strataImg(['convert', '-O', 'qcow2', 'top.qcow2', 'flat.qcow2'], dir), 'convert');
    must(qemuImg(['convert', '-O', 'qcow2', 'top.qcow2', 'flat-qemu.qcow2'], dir), 'qemu convert');
    identical('top.qcow2', 'flat.qcow2');
    identical('flat.qcow2', 'flat-qemu.qcow2', ['-s']);
    clean('flat.qcow2');
    const info = JSON.parse(strataImg(['info', '--output=json', 'flat.qcow2'], dir).stdout);
    expect(info['backing-filename']).toBeUndefined();
  });

  it('compresses with -c and honours -o cluster_size', () => {
    must(
      strataImg(['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4k', 'top.qcow2', 'c.qcow2'], dir),
      'convert',
    );
    identical('top.qcow2', 'c.qcow2');
    clean('c.qcow2');
    const check = JSON.parse(qemuImg(['check', '--output=json', 'c.qcow2'], dir).stdout);
    expect(check['compressed-clusters']).toBeGreaterThan(0);
    expect(JSON.parse(qemuImg(['info', '--output=json', 'c.qcow2'], dir).stdout)['cluster-size']).toBe(4096);
  });

  it('-B writes only the top layer over the named backing file', () => {
    must(
      strataImg(['convert', '-O', 'qcow2', '-B', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2', 'over.qcow2'], dir),
      'convert',
    );
    identical('top.qcow2', 'over.qcow2');
    clean('over.qcow2');
    const ours = qemuImg(['map', '--output=json', 'over.qcow2'], dir).stdout;
    must(
      qemuImg(
        ['convert', '-O', 'qcow2', '-B', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2', 'over-qemu.qcow2'],
        dir,
      ),
      'q',
    );
    const theirs = qemuImg(['map', '--output=json', 'over-qemu.qcow2'], dir).stdout;
    // Same allocation, layer by layer (host offsets may differ with write order).
    const shape = (text: string) =>
      (JSON.parse(text) as Array<Record<string, unknown>>).map(({ offset: _offset, ...rest }) => rest);
    expect(shape(ours)).toEqual(shape(theirs));
  });

  it('-n writes into an existing image, zeroing what the source does not hold', () => {
    create(dir, ['-f', 'raw', 'target.raw', '16M']);
    ioWrite(dir, 'target.raw', 'raw', ['write -P 0x77 0 16M']);
    must(strataImg(['convert', '-n', '-O', 'raw', 'top.qcow2', 'target.raw'], dir), 'convert -n');
    identical('top.qcow2', 'target.raw');
  });

  it('concatenates several sources', () => {
    must(strataImg(['convert', '-O', 'raw', 'disk.raw', 'base.qcow2', 'both.raw'], dir), 'convert');
    const size = JSON.parse(qemuImg(['info', '--output=json', 'both.raw'], dir).stdout)['virtual-size'];
    expect(size).toBe(22 * 1024 * 1024);
    must(qemuImg(['convert', '-O', 'raw', 'disk.raw', 'base.qcow2', 'both-qemu.raw'], dir), 'q');
    identical('both.raw', 'both-qemu.raw');
  });

  it('copies persistent bitmaps with --bitmaps', () => {
    must(qemuImg(['bitmap', '-f', 'qcow2', '--add', 'mid.qcow2', 'tracked'], dir), 'bitmap');
    ioWrite(dir, 'mid.qcow2', 'qcow2', ['write -P 6 8M 64k']);
    must(
      strataImg(['convert', '--bitmaps', '-O', 'qcow2', 'mid.qcow2', 'with-bitmaps.qcow2'], dir),
      'convert',
    );
    must(qemuImg(['convert', '--bitmaps', '-O', 'qcow2', 'mid.qcow2', 'with-bitmaps-qemu.qcow2'], dir), 'q');
    const bitmaps = (name: string) =>
      JSON.parse(qemuImg(['info', '--output=json', name], dir).stdout)['format-specific'].data.bitmaps;
    expect(bitmaps('with-bitmaps.qcow2')).toEqual(bitmaps('with-bitmaps-qemu.qcow2'));
    clean('with-bitmaps.qcow2');
  });

  it('prints qemu-img progress with -p', () => {
    const result = must(strataImg(['convert', '-p', '-O', 'raw', 'top.qcow2', 'p.raw'], dir), 'convert -p');
    expect(result.stdout.startsWith('    (0.00/100%)\r')).toBe(true);
    expect(result.stdout.endsWith('    (100.00/100%)\r\n')).toBe(true);
  });

  it('refuses what qemu-img refuses, with its messages', () => {
    for (const args of [
      ['convert', '-O', 'qcow2', '-B', 'mid.qcow2', 'top.qcow2', 'x.qcow2'],
      ['convert', '-O', 'raw', '-c', 'top.qcow2', 'x.raw'],
      ['convert', '-O', 'qcow2', 'top.qcow2'],
      ['convert', '-O', 'vmdk2', 'top.qcow2', 'x'],
      ['convert', '-n', '-o', 'cluster_size=4k', 'top.qcow2', 'flat.raw'],
      ['convert', '-O', 'qcow2', 'missing.qcow2', 'x.qcow2'],
    ]) {
      const ours = strataImg(args, dir);
      const theirs = qemuImg(args, dir);
      expect(ours.status).toBe(theirs.status);
      expect(ours.stderr.replaceAll('strata-img', 'qemu-img')).toBe(theirs.stderr);
    }
  });
});
