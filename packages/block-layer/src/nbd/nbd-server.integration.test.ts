import { readFile, rm, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addBitmap } from '../bitmap/bitmap-commands.js';
import type { BdrvDirtyBitmap } from '../bitmap/dirty-bitmap.js';
import { peer, spawnPeer, waitFor } from './test-support/peers.js';
import { type ServedImage, serveImage } from './test-support/serve.js';

const SIZE = 8 << 20;
const CLUSTER = 64 << 10;
let dir: string;
let served: ServedImage | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-nbd-'));
});

afterEach(async () => {
  await served?.close();
  served = null;
  await rm(dir, { recursive: true, force: true });
});

/** A flat model of the disk's bytes. */
class DiskModel {
  readonly bytes = new Uint8Array(SIZE);
  fill(offset: number, length: number, value: number): void {
    this.bytes.fill(value, offset, offset + length);
  }
}

async function createImage(name: string): Promise<string> {
  const path = join(dir, name);
  await peer('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    `cluster_size=${CLUSTER}`,
    path,
    String(SIZE),
  ]);
  return path;
}

async function readAllThroughNbdcopy(uri: string): Promise<Uint8Array> {
  const out = join(dir, `copy-${Math.random().toString(36).slice(2)}.raw`);
  await peer('nbdcopy', [uri, out]);
  return new Uint8Array(await readFile(out));
}

describe('real NBD clients against a Strata export', () => {
  it('qemu-io writes, zeroes and discards with patterns; nbdcopy and qemu-img read back the model', async () => {
    const image = await createImage('a.qcow2');
    await peer('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 1M', image]);
    const model = new DiskModel();
    model.fill(0, 1 << 20, 0x11);
    served = await serveImage(dir, image, { description: 'test disk' });
    const uri = served.uri();

    const info = JSON.parse(await peer('qemu-img', ['info', '--output=json', uri])) as Record<
      string,
      unknown
    >;
    expect(info['virtual-size']).toBe(SIZE);

    const steps: Array<[string, () => void]> = [
      ['write -P 0x22 1536k 64k', () => model.fill(1536 << 10, 64 << 10, 0x22)],
      ['write -P 0x33 3000 5000', () => model.fill(3000, 5000, 0x33)],
      ['write -z 512k 128k', () => model.fill(512 << 10, 128 << 10, 0)],
      ['write -P 0x44 4M 1M', () => model.fill(4 << 20, 1 << 20, 0x44)],
      ['discard 4M 256k', () => model.fill(4 << 20, 256 << 10, 0)],
      ['write -P 0x55 -f 7M 4k', () => model.fill(7 << 20, 4096, 0x55)],
    ];
    for (const [command, apply] of steps) {
      await peer('qemu-io', ['-f', 'raw', '-c', command, uri]);
      apply();
    }
    // Pattern checks by qemu-io itself, on what it wrote.
    await peer('qemu-io', ['-f', 'raw', '-c', 'read -P 0x22 1536k 64k', '-c', 'read -P 0 512k 128k', uri]);
    await peer('qemu-io', ['-f', 'raw', '-c', 'read -P 0x33 3000 5000', '-c', 'read -P 0 4M 256k', uri]);

    expect(Buffer.compare(await readAllThroughNbdcopy(uri), model.bytes)).toBe(0);

    const converted = join(dir, 'converted.qcow2');
    await peer('qemu-img', ['convert', '-O', 'qcow2', uri, converted]);
    await peer('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', uri, converted]);
    const flat = join(dir, 'flat.raw');
    await peer('qemu-img', ['convert', '-O', 'raw', converted, flat]);
    expect(Buffer.compare(new Uint8Array(await readFile(flat)), model.bytes)).toBe(0);
  });

  it('nbdcopy writes into the export and reads the same bytes back', async () => {
    const image = await createImage('b.qcow2');
    served = await serveImage(dir, image);
    const source = new Uint8Array(SIZE);
    for (let i = 0; i < SIZE; i += 4096) source.fill((i / 4096) % 251, i, i + (i % 3 === 0 ? 4096 : 0));
    const sourcePath = join(dir, 'source.raw');
    await writeFile(sourcePath, source);
    await peer('nbdcopy', [sourcePath, served.uri()]);
    expect(Buffer.compare(await readAllThroughNbdcopy(served.uri()), source)).toBe(0);
  });

  it('nbdinfo --list shows the exports with their descriptions', async () => {
    const image = await createImage('c.qcow2');
    served = await serveImage(dir, image, { description: 'the first disk' });
    served.server.addExport(served.graph, { id: 'exp1', node: 'disk', name: 'second' });
    const list = JSON.parse(
      await peer('nbdinfo', ['--list', '--json', `nbd+unix://?socket=${served.socket}`]),
    ) as {
      exports: Array<{
        'export-name': string;
        description?: string;
        'export-size': number;
        is_read_only: boolean;
      }>;
    };
    const byName = new Map(list.exports.map((e) => [e['export-name'], e]));
    expect([...byName.keys()].sort()).toEqual(['disk', 'second']);
    expect(byName.get('disk')).toMatchObject({
      description: 'the first disk',
      'export-size': SIZE,
      is_read_only: false,
    });
    expect(byName.get('second')).toMatchObject({ 'export-size': SIZE, is_read_only: true });
  });

  it('nbdinfo --map of base:allocation and qemu:allocation-depth equals qemu-nbd on the same image', async () => {
    const base = await createImage('base.qcow2');
    await peer('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 1M', '-c', 'write -P 2 6M 128k', base]);
    const overlay = join(dir, 'overlay.qcow2');
    await peer('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
    await peer('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      'write -P 3 512k 1M',
      '-c',
      'write -z 2M 192k',
      '-c',
      'write -z 6M 64k',
      overlay,
    ]);
    const maps = async (uri: string) => ({
      allocation: await peer('nbdinfo', ['--map', uri]),
      depth: await peer('nbdinfo', ['--map=qemu:allocation-depth', uri]),
    });
    served = await serveImage(dir, overlay, { writable: false, allocationDepth: true });
    const ours = await maps(served.uri());
    await served.close();
    served = null;

    const socket = join(dir, 'qemu.sock');
    const qemuNbd = await spawnPeer('qemu-nbd', [
      '-t',
      '-r',
      '-A',
      '-f',
      'qcow2',
      '-k',
      socket,
      '-x',
      'disk',
      overlay,
    ]);
    try {
      const uri = `nbd+unix:///disk?socket=${socket}`;
      await waitFor(() => peer('nbdinfo', ['--size', uri]));
      const theirs = await maps(uri);
      expect(ours).toEqual(theirs);
      expect(ours.allocation).toContain('hole,zero');
      expect(ours.depth).toContain('backing depth 2');
    } finally {
      qemuNbd.kill();
    }
  });

  it('nbdinfo --map=qemu:dirty-bitmap:NAME matches the bitmap', async () => {
    const image = await createImage('d.qcow2');
    let bitmap: BdrvDirtyBitmap | null = null;
    served = await serveImage(dir, image, { bitmaps: ['b0'] }, {}, (graph) => {
      bitmap = addBitmap(graph, { node: 'disk', name: 'b0', granularity: CLUSTER }).bitmap;
    });
    const exported = bitmap as BdrvDirtyBitmap | null;
    if (!exported) throw new Error('bitmap not created');
    {
      const uri = served.uri();
      await peer('qemu-io', [
        '-f',
        'raw',
        '-c',
        'write -P 7 100k 10k',
        '-c',
        'write -P 8 1M 200k',
        '-c',
        'write -z 5M 64k',
        uri,
      ]);
      const map = await peer('nbdinfo', ['--map=qemu:dirty-bitmap:b0', '--json', uri]);
      const extents = (JSON.parse(map) as Array<{ offset: number; length: number; type: number }>).map(
        (e) => [e.offset, e.length, e.type],
      );
      // Writes rounded out to the 64 KiB granularity.
      expect(extents).toEqual([
        [0, 64 << 10, 0],
        [64 << 10, 64 << 10, 1],
        [128 << 10, (1 << 20) - (128 << 10), 0],
        [1 << 20, 256 << 10, 1],
        [(1 << 20) + (256 << 10), (5 << 20) - (1 << 20) - (256 << 10), 0],
        [5 << 20, 64 << 10, 1],
        [(5 << 20) + (64 << 10), SIZE - (5 << 20) - (64 << 10), 0],
      ]);
      expect(exported.store.count()).toBe((64 + 256 + 64) << 10);
      expect(exported.busy).toBe(true);
      await served.server.removeExport('exp0');
      expect(exported.busy).toBe(false);
    }
  });
});
