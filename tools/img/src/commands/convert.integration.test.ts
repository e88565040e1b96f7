import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, qemuImg, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { buildChain, create, ioWrite } from '../test-support/scenarios.js';

// strata-img converts; qemu-img compare and qemu-img check judge the result.
let dir: string;
let remove: () => void;

beforeAll(async () => {
  requirePeers();
  ({ dir, remove } = tempDir());
  await buildChain(dir);
  await create(dir, ['-f', 'raw', 'disk.raw', '6M']);
  await ioWrite(dir, 'disk.raw', 'raw', ['write -P 0x11 0 1M', 'write -P 0x22 3M 5000', 'write -z 512k 64k']);
});

afterAll(() => remove?.());

async function identical(a: string, b: string, extra: string[] = []): Promise<void> {
  const result = await qemuImg(['compare', ...extra, a, b], dir);
  expect(result.stdout).toBe('Images are identical.\n');
  expect(result.status).toBe(0);
}

async function clean(image: string): Promise<void> {
  const result = await qemuImg(['check', image], dir);
  expect(result.stdout).toContain('No errors were found on the image.');
  expect(result.status).toBe(0);
}

describe('convert', async () => {
  it('qcow2 chain to raw reads the same as the chain', async () => {
    await must(strataImg(['convert', '-O', 'raw', 'top.qcow2', 'flat.raw'], dir), 'convert');
    await identical('top.qcow2', 'flat.raw');
  });

  it('raw to qcow2 writes a clean, sparse image', async () => {
    await must(
      strataImg(['convert', '-f', 'raw', '-O', 'qcow2', 'disk.raw', 'from-raw.qcow2'], dir),
      'convert',
    );
    await identical('disk.raw', 'from-raw.qcow2');
    await clean('from-raw.qcow2');
    const map = JSON.parse((await qemuImg(['map', '--output=json', 'from-raw.qcow2'], dir)).stdout) as Array<{
      data: boolean;
      length: number;
    }>;
    const dataBytes = map.filter((e) => e.data).reduce((sum, e) => sum + e.length, 0);
    expect(dataBytes).toBeLessThan(2 * 1024 * 1024);
  });

  it('flattens a three-deep chain into one qcow2 image, as qemu-img does', async () => {
    await must(strataImg(['convert', '-O', 'qcow2', 'top.qcow2', 'flat.qcow2'], dir), 'convert');
    await must(qemuImg(['convert', '-O', 'qcow2', 'top.qcow2', 'flat-qemu.qcow2'], dir), 'qemu convert');
    await identical('top.qcow2', 'flat.qcow2');
    await identical('flat.qcow2', 'flat-qemu.qcow2', ['-s']);
    await clean('flat.qcow2');
    const info = JSON.parse((await strataImg(['info', '--output=json', 'flat.qcow2'], dir)).stdout);
    expect(info['backing-filename']).toBeUndefined();
  });

  it('compresses with -c and honours -o cluster_size', async () => {
    await must(
      strataImg(['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4k', 'top.qcow2', 'c.qcow2'], dir),
      'convert',
    );
    await identical('top.qcow2', 'c.qcow2');
    await clean('c.qcow2');
    const check = JSON.parse((await qemuImg(['check', '--output=json', 'c.qcow2'], dir)).stdout);
    expect(check['compressed-clusters']).toBeGreaterThan(0);
    expect(
      JSON.parse((await qemuImg(['info', '--output=json', 'c.qcow2'], dir)).stdout)['cluster-size'],
    ).toBe(4096);
  });

  it('-B writes only the top layer over the named backing file', async () => {
    await must(
      strataImg(['convert', '-O', 'qcow2', '-B', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2', 'over.qcow2'], dir),
      'convert',
    );
    await identical('top.qcow2', 'over.qcow2');
    await clean('over.qcow2');
    const ours = (await qemuImg(['map', '--output=json', 'over.qcow2'], dir)).stdout;
    await must(
      qemuImg(
        ['convert', '-O', 'qcow2', '-B', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2', 'over-qemu.qcow2'],
        dir,
      ),
      'q',
    );
    const theirs = (await qemuImg(['map', '--output=json', 'over-qemu.qcow2'], dir)).stdout;
    // Same allocation, layer by layer (host offsets may differ with write order).
    const shape = (text: string) =>
      (JSON.parse(text) as Array<Record<string, unknown>>).map(({ offset: _offset, ...rest }) => rest);
    expect(shape(ours)).toEqual(shape(theirs));
  });

  it('-n writes into an existing image, zeroing what the source does not hold', async () => {
    await create(dir, ['-f', 'raw', 'target.raw', '16M']);
    await ioWrite(dir, 'target.raw', 'raw', ['write -P 0x77 0 16M']);
    await must(strataImg(['convert', '-n', '-O', 'raw', 'top.qcow2', 'target.raw'], dir), 'convert -n');
    await identical('top.qcow2', 'target.raw');
  });

  it('concatenates several sources', async () => {
    await must(strataImg(['convert', '-O', 'raw', 'disk.raw', 'base.qcow2', 'both.raw'], dir), 'convert');
    const size = JSON.parse((await qemuImg(['info', '--output=json', 'both.raw'], dir)).stdout)[
      'virtual-size'
    ];
    expect(size).toBe(22 * 1024 * 1024);
    await must(qemuImg(['convert', '-O', 'raw', 'disk.raw', 'base.qcow2', 'both-qemu.raw'], dir), 'q');
    await identical('both.raw', 'both-qemu.raw');
  });

  it('copies persistent bitmaps with --bitmaps', async () => {
    await must(qemuImg(['bitmap', '-f', 'qcow2', '--add', 'mid.qcow2', 'tracked'], dir), 'bitmap');
    await ioWrite(dir, 'mid.qcow2', 'qcow2', ['write -P 6 8M 64k']);
    await must(
      strataImg(['convert', '--bitmaps', '-O', 'qcow2', 'mid.qcow2', 'with-bitmaps.qcow2'], dir),
      'convert',
    );
    await must(
      qemuImg(['convert', '--bitmaps', '-O', 'qcow2', 'mid.qcow2', 'with-bitmaps-qemu.qcow2'], dir),
      'q',
    );
    const bitmaps = async (name: string) =>
      JSON.parse((await qemuImg(['info', '--output=json', name], dir)).stdout)['format-specific'].data
        .bitmaps;
    expect(bitmaps('with-bitmaps.qcow2')).toEqual(bitmaps('with-bitmaps-qemu.qcow2'));
    await clean('with-bitmaps.qcow2');
  });

  it('prints qemu-img progress with -p', async () => {
    const result = await must(
      strataImg(['convert', '-p', '-O', 'raw', 'top.qcow2', 'p.raw'], dir),
      'convert -p',
    );
    expect(result.stdout.startsWith('    (0.00/100%)\r')).toBe(true);
    expect(result.stdout.endsWith('    (100.00/100%)\r\n')).toBe(true);
  });

  it('refuses what qemu-img refuses, with its messages', async () => {
    for (const args of [
      ['convert', '-O', 'qcow2', '-B', 'mid.qcow2', 'top.qcow2', 'x.qcow2'],
      ['convert', '-O', 'raw', '-c', 'top.qcow2', 'x.raw'],
      ['convert', '-O', 'qcow2', 'top.qcow2'],
      ['convert', '-O', 'vmdk2', 'top.qcow2', 'x'],
      ['convert', '-n', '-o', 'cluster_size=4k', 'top.qcow2', 'flat.raw'],
      ['convert', '-O', 'qcow2', 'missing.qcow2', 'x.qcow2'],
    ]) {
      const ours = await strataImg(args, dir);
      const theirs = await qemuImg(args, dir);
      expect(ours.status).toBe(theirs.status);
      expect(ours.stderr.replaceAll('strata-img', 'qemu-img')).toBe(theirs.stderr);
    }
  });
});
