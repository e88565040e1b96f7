import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, qemuImg, qemuIo, requirePeers, strataImg, tempDir } from '../test-support/peers.js';
import { buildChain, create, ioWrite } from '../test-support/scenarios.js';

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

async function disk(dir: string): Promise<void> {
  await create(dir, ['-f', 'qcow2', 'disk.qcow2', '32M']);
  await ioWrite(dir, 'disk.qcow2', 'qcow2', ['write -P 1 0 3M', 'write -P 2 20M 64k']);
}

describe('snapshot', () => {
  it('lists snapshots qemu-img took exactly as qemu-img', async () => {
    const { ours } = await twin(disk);
    await must(qemuImg(['snapshot', '-c', 'one', 'disk.qcow2'], ours), 'snapshot');
    await must(qemuImg(['snapshot', '-c', 'two', 'disk.qcow2'], ours), 'snapshot');
    const a = await strataImg(['snapshot', '-l', 'disk.qcow2'], ours);
    const b = await qemuImg(['snapshot', '-l', 'disk.qcow2'], ours);
    expect(a.stdout).toBe(b.stdout);
    expect(a.status).toBe(b.status);
  });

  it('creates, applies and deletes snapshots that qemu-img accepts', async () => {
    const { ours } = await twin(disk);
    await must(strataImg(['snapshot', '-f', 'qcow2', '-c', 'before', 'disk.qcow2'], ours), 'create');
    await ioWrite(ours, 'disk.qcow2', 'qcow2', ['write -P 9 0 1M']);
    expect((await qemuImg(['check', 'disk.qcow2'], ours)).status).toBe(0);
    const listed = (await qemuImg(['snapshot', '-l', 'disk.qcow2'], ours)).stdout;
    expect(listed).toMatch(/^1 +before +0 B /m);
    await must(strataImg(['snapshot', '-f', 'qcow2', '-a', 'before', 'disk.qcow2'], ours), 'apply');
    expect((await qemuImg(['check', 'disk.qcow2'], ours)).status).toBe(0);
    const read = await must(qemuIo(['-f', 'qcow2', '-c', 'read -P 1 0 1M', 'disk.qcow2'], ours), 'read');
    expect(read.stdout).not.toContain('Pattern verification failed');
    await must(strataImg(['snapshot', '-f', 'qcow2', '-d', 'before', 'disk.qcow2'], ours), 'delete');
    expect((await qemuImg(['snapshot', '-l', 'disk.qcow2'], ours)).stdout).toBe('');
    expect((await qemuImg(['check', 'disk.qcow2'], ours)).status).toBe(0);
  });

  it('fails like qemu-img for a missing snapshot', async () => {
    const { ours, theirs } = await twin(disk);
    const a = await strataImg(['snapshot', '-f', 'qcow2', '-d', 'nosuch', 'disk.qcow2'], ours);
    const b = await qemuImg(['snapshot', '-d', 'nosuch', 'disk.qcow2'], theirs);
    expect(a.status).toBe(b.status);
    expect(a.stderr.replaceAll('strata-img', 'qemu-img')).toBe(b.stderr);
  });
});

describe('bitmap', () => {
  const steps: string[][] = [
    ['--add', '-g', '128k', 'disk.qcow2', 'b0'],
    ['--add', '--disable', 'disk.qcow2', 'b1'],
    ['--merge', 'b0', 'disk.qcow2', 'b1'],
    ['--enable', 'disk.qcow2', 'b1'],
    ['--clear', 'disk.qcow2', 'b0'],
    ['--add', 'disk.qcow2', 'gone'],
    ['--remove', 'disk.qcow2', 'gone'],
  ];

  it('the same actions leave the same bitmaps as qemu-img', async () => {
    const { ours, theirs } = await twin(disk);
    for (const step of steps) {
      const a = await strataImg(['bitmap', '-f', 'qcow2', ...step], ours);
      const b = await qemuImg(['bitmap', '-f', 'qcow2', ...step], theirs);
      expect(a.status, step.join(' ')).toBe(b.status);
    }
    const info = async (dir: string) =>
      JSON.parse((await qemuImg(['info', '--output=json', 'disk.qcow2'], dir)).stdout)['format-specific'];
    expect(await info(ours)).toEqual(await info(theirs));
    expect((await qemuImg(['check', 'disk.qcow2'], ours)).status).toBe(0);
  });

  it('fails like qemu-img', async () => {
    const { ours, theirs } = await twin(disk);
    await must(qemuImg(['bitmap', '-f', 'qcow2', '--add', 'disk.qcow2', 'b0'], ours), 'add');
    await must(qemuImg(['bitmap', '-f', 'qcow2', '--add', 'disk.qcow2', 'b0'], theirs), 'add');
    for (const args of [
      ['disk.qcow2', 'b0'],
      ['--add', 'disk.qcow2'],
      ['--add', 'disk.qcow2', 'b0'],
      ['-g', '64k', '--clear', 'disk.qcow2', 'b0'],
      ['-F', 'qcow2', '--merge', 'b0', 'disk.qcow2', 'b1'],
    ]) {
      const a = await strataImg(['bitmap', '-f', 'qcow2', ...args], ours);
      const b = await qemuImg(['bitmap', '-f', 'qcow2', ...args], theirs);
      expect(a.status, args.join(' ')).toBe(b.status);
      expect(a.stderr.replaceAll('strata-img', 'qemu-img'), args.join(' ')).toBe(b.stderr);
    }
  });
});

describe('measure', () => {
  it('reports the sizes qemu-img reports', async () => {
    const { ours } = await twin(async (dir) => {
      await buildChain(dir);
      await must(qemuImg(['bitmap', '-f', 'qcow2', '--add', 'top.qcow2', 'b'], dir), 'bitmap');
    });
    for (const args of [
      ['-O', 'qcow2', '--size', '1G'],
      ['-O', 'raw', '--size', '1G'],
      ['-O', 'qcow2', '-o', 'cluster_size=4k,refcount_bits=1', '--size', '10G'],
      ['--output=json', '-O', 'qcow2', 'top.qcow2'],
      ['-O', 'qcow2', 'top.qcow2'],
      ['-O', 'qcow2', '-o', 'cluster_size=512', 'mid.qcow2'],
      ['-O', 'raw', 'top.qcow2'],
      ['-O', 'qcow2', '--size', '1G', 'top.qcow2'],
    ]) {
      const a = await strataImg(['measure', ...args], ours);
      const b = await qemuImg(['measure', ...args], ours);
      expect(a.stdout, args.join(' ')).toBe(b.stdout);
      expect(a.status).toBe(b.status);
    }
  });
});
