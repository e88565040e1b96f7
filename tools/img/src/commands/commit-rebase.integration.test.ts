import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHash, must, qemuImg, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { buildAllocatedChain, buildChain, create, ioWrite } from '../test-support/scenarios.js';

// Each scenario is built twice from the same qemu-img/qemu-io steps, in two directories with the
// same file names (so recorded backing names are equal); strata-img runs in one, qemu-img in the
// other, and the resulting files must be byte-for-byte equal.
let root: string;
let remove: () => void;
let counter = 0;

beforeAll(async () => {
  requirePeers();
  ({ dir: root, remove } = tempDir());
});

afterAll(() => remove?.());

async function twin(build: (dir: string) => Promise<void>): Promise<{ ours: string; theirs: string }> {
  counter++;
  const ours = join(root, `ours-${counter}`);
  const theirs = join(root, `theirs-${counter}`);
  mkdirSync(ours);
  mkdirSync(theirs);
  await build(ours);
  await build(theirs);
  return { ours, theirs };
}

function sameBytes(a: string, b: string, files: string[]): void {
  for (const file of files) expect(fileHash(join(a, file)), file).toBe(fileHash(join(b, file)));
}

async function identical(dir: string, a: string, b: string): Promise<void> {
  expect((await qemuImg(['compare', a, b], dir)).stdout).toBe('Images are identical.\n');
}

describe('commit', async () => {
  it('-d into the direct backing file: byte-equal to qemu-img', async () => {
    const { ours, theirs } = await twin(buildAllocatedChain);
    const a = await must(strataImg(['commit', '-f', 'qcow2', '-d', 'top.qcow2'], ours), 'strata commit');
    const b = await must(qemuImg(['commit', '-f', 'qcow2', '-d', 'top.qcow2'], theirs), 'qemu commit');
    expect(a.stdout).toBe(b.stdout);
    sameBytes(ours, theirs, ['base.qcow2', 'mid.qcow2', 'top.qcow2']);
  });

  it('without -d empties the top image afterwards: the committed base is byte-equal', async () => {
    const { ours, theirs } = await twin(buildAllocatedChain);
    await must(strataImg(['commit', '-f', 'qcow2', 'top.qcow2'], ours), 'strata commit');
    await must(qemuImg(['commit', '-f', 'qcow2', 'top.qcow2'], theirs), 'qemu commit');
    sameBytes(ours, theirs, ['base.qcow2', 'mid.qcow2']);
    // The emptied top holds nothing and reads its backing: same map as qemu-img's.
    expect((await qemuImg(['map', '--output=json', 'top.qcow2'], ours)).stdout).toBe(
      (await qemuImg(['map', '--output=json', 'top.qcow2'], theirs)).stdout,
    );
    expect((await qemuImg(['check', 'top.qcow2'], ours)).status).toBe(0);
  });

  it('-b through an intermediate layer: byte-equal to qemu-img', async () => {
    const { ours, theirs } = await twin(buildAllocatedChain);
    await must(
      strataImg(['commit', '-f', 'qcow2', '-p', '-b', 'base.qcow2', 'top.qcow2'], ours),
      'strata commit',
    );
    await must(qemuImg(['commit', '-f', 'qcow2', '-b', 'base.qcow2', 'top.qcow2'], theirs), 'qemu commit');
    sameBytes(ours, theirs, ['base.qcow2', 'mid.qcow2', 'top.qcow2']);
  });

  it('-b where new clusters are allocated: same contents and a clean base', async () => {
    // Here the layout is not comparable: qemu-img's concurrent copy allocates in varying order
    // (and reuses clusters it freed), so only guest contents and consistency are compared.
    const { ours, theirs } = await twin(buildChain);
    await must(strataImg(['commit', '-f', 'qcow2', '-b', 'base.qcow2', 'top.qcow2'], ours), 'strata commit');
    await must(qemuImg(['commit', '-f', 'qcow2', '-b', 'base.qcow2', 'top.qcow2'], theirs), 'qemu commit');
    await identical(root, join(ours, 'base.qcow2'), join(theirs, 'base.qcow2'));
    expect((await qemuImg(['check', 'base.qcow2'], ours)).status).toBe(0);
  });

  it('requires -f, since the image is opened for writing', async () => {
    const { ours } = await twin(buildChain);
    const before = fileHash(join(ours, 'mid.qcow2'));
    const result = await strataImg(['commit', 'top.qcow2'], ours);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^strata-img: Could not open 'top.qcow2': the image format must be given with -f/,
    );
    expect(fileHash(join(ours, 'mid.qcow2'))).toBe(before);
  });
});

describe('rebase', async () => {
  it('safe mode onto the base copies the differences: byte-equal to qemu-img', async () => {
    const { ours, theirs } = await twin(buildChain);
    await must(
      strataImg(['rebase', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'], ours),
      'strata',
    );
    await must(
      qemuImg(['rebase', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'], theirs),
      'qemu',
    );
    sameBytes(ours, theirs, ['top.qcow2']);
  });

  it('safe mode onto nothing flattens: byte-equal to qemu-img', async () => {
    const { ours, theirs } = await twin(buildChain);
    await must(strataImg(['rebase', '-f', 'qcow2', '-p', '-b', '', 'top.qcow2'], ours), 'strata');
    await must(qemuImg(['rebase', '-f', 'qcow2', '-b', '', 'top.qcow2'], theirs), 'qemu');
    sameBytes(ours, theirs, ['top.qcow2']);
  });

  it('safe mode onto a different image with other contents', async () => {
    const build = async (dir: string) => {
      await buildChain(dir);
      await create(dir, ['-f', 'raw', 'other.raw', '16M']);
      await ioWrite(dir, 'other.raw', 'raw', ['write -P 0x55 0 16M', 'write -P 3 1M 2M']);
    };
    const { ours, theirs } = await twin(build);
    await must(
      strataImg(['rebase', '-f', 'qcow2', '-b', 'other.raw', '-F', 'raw', 'top.qcow2'], ours),
      'strata',
    );
    await must(
      qemuImg(['rebase', '-f', 'qcow2', '-b', 'other.raw', '-F', 'raw', 'top.qcow2'], theirs),
      'qemu',
    );
    sameBytes(ours, theirs, ['top.qcow2']);
  });

  it('unsafe mode only rewrites the header: byte-equal to qemu-img', async () => {
    const { ours, theirs } = await twin(buildChain);
    await must(
      strataImg(['rebase', '-f', 'qcow2', '-u', '-b', 'renamed.qcow2', '-F', 'qcow2', 'top.qcow2'], ours),
      's',
    );
    await must(
      qemuImg(['rebase', '-f', 'qcow2', '-u', '-b', 'renamed.qcow2', '-F', 'qcow2', 'top.qcow2'], theirs),
      'q',
    );
    sameBytes(ours, theirs, ['top.qcow2']);
  });

  it('refuses a missing backing format with qemu-img wording', async () => {
    const { ours, theirs } = await twin(buildChain);
    const a = await strataImg(['rebase', '-f', 'qcow2', '-b', 'base.qcow2', 'top.qcow2'], ours);
    const b = await qemuImg(['rebase', '-f', 'qcow2', '-b', 'base.qcow2', 'top.qcow2'], theirs);
    expect(a.status).toBe(b.status);
    expect(a.stderr.replaceAll('strata-img', 'qemu-img')).toBe(b.stderr);
  });
});

describe('create and resize', async () => {
  const creations = [
    ['-f', 'qcow2', 'img', '64M'],
    ['-f', 'qcow2', '-o', 'cluster_size=4k,lazy_refcounts=on,refcount_bits=8', 'img', '1.5G'],
    ['-f', 'qcow2', '-o', 'compat=0.10', 'img', '10M'],
    ['-f', 'qcow2', '-o', 'preallocation=metadata', 'img', '3M'],
    ['-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'img'],
    ['-f', 'qcow2', '-u', '-b', 'absent.qcow2', '-F', 'qcow2', 'img', '5M'],
    ['-f', 'raw', 'img', '1M'],
  ];
  for (const args of creations) {
    it(`create ${args.join(' ')}: same output and bytes as qemu-img`, async () => {
      const { ours, theirs } = await twin((dir) => create(dir, ['-f', 'qcow2', 'base.qcow2', '7M']));
      const a = await strataImg(['create', ...args], ours);
      const b = await qemuImg(['create', ...args], theirs);
      expect(a.stdout).toBe(b.stdout);
      expect(a.status).toBe(b.status);
      sameBytes(ours, theirs, ['img']);
    });
  }

  it('create refuses bad options as qemu-img does', async () => {
    for (const args of [
      ['-f', 'qcow2', '-o', 'cluster_size=3k', 'img', '1M'],
      ['-f', 'qcow2', '-o', 'foo=bar', 'img', '1M'],
      ['-f', 'qcow2', '-o', 'compat=0.10,lazy_refcounts=on', 'img', '1M'],
      ['-f', 'qcow2', '-b', 'base.qcow2', 'img'],
      ['-f', 'qcow2', 'img', '1M', '2M'],
    ]) {
      const { ours, theirs } = await twin(async () => {});
      const a = await strataImg(['create', ...args], ours);
      const b = await qemuImg(['create', ...args], theirs);
      expect(a.status).toBe(b.status);
      expect(a.stderr.replaceAll('strata-img', 'qemu-img')).toBe(b.stderr);
    }
  });

  it('resize grows and shrinks like qemu-img', async () => {
    const { ours, theirs } = await twin(buildChain);
    for (const tool of [
      { run: strataImg, dir: ours },
      { run: qemuImg, dir: theirs },
    ]) {
      await must(tool.run(['resize', '-f', 'qcow2', 'top.qcow2', '+1M'], tool.dir), 'grow');
      await must(tool.run(['resize', '-f', 'qcow2', '--shrink', 'top.qcow2', '-2M'], tool.dir), 'shrink');
    }
    sameBytes(ours, theirs, ['top.qcow2']);
    const a = await strataImg(['resize', '-f', 'qcow2', 'top.qcow2', '-1M'], ours);
    const b = await qemuImg(['resize', '-f', 'qcow2', 'top.qcow2', '-1M'], theirs);
    expect(a.status).toBe(b.status);
    expect(a.stderr.replaceAll('strata-img', 'qemu-img')).toBe(b.stderr);
  });
});
