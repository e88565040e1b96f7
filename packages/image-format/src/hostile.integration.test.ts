import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, type ImageErrorReason } from './errors.js';
import { inspectImage, type OpenImageOptions, openImage, probeFormat } from './open.js';
import { createQcow2 } from './qcow2/create.js';
import { parseHeader } from './qcow2/header.js';
import type { Qcow2Image } from './qcow2/image.js';
import { fileHash, makeTempDir, mustRun, runPeer } from './test-support/qemu.js';

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let counter = 0;
beforeAll(async () => {
  tmp = await makeTempDir('strata-hostile-');
});
afterAll(() => tmp.cleanup());

/** A small qemu-made image with data (so L1/L2/refcount entries exist), 4 KiB clusters. */
async function sample(): Promise<string> {
  const path = tmp.path(`img-${counter++}.qcow2`);
  await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', path, '1M']);
  await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 7 0 8k', path]);
  return path;
}

/** Patches bytes of a file in place. */
async function patch(path: string, offset: number, bytes: number[] | Uint8Array): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(Uint8Array.from(bytes), 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}

function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}
function be64(n: bigint): number[] {
  return [...be32(Number(n >> 32n)), ...be32(Number(n & 0xffffffffn))];
}

/** Opening fails with `reason`, read-write and read-only alike, and the file is unchanged. */
async function expectRefused(
  path: string,
  reason: ImageErrorReason,
  options: Partial<OpenImageOptions> = {},
  messagePart?: string,
): Promise<void> {
  const before = await fileHash(path);
  for (const readOnly of [false, true]) {
    const attempt = openImage(path, { format: 'qcow2', readOnly, ...options });
    const error = await attempt.then(
      async (image) => {
        await image.close();
        return null;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).reason).toBe(reason);
    if (messagePart) expect((error as ImageError).message).toContain(messagePart);
  }
  expect(await fileHash(path)).toBe(before);
}

async function l2Offset(path: string): Promise<number> {
  const bytes = await readFile(path);
  const h = parseHeader(bytes.subarray(0, 4096));
  return Number(bytes.readBigUInt64BE(h.l1TableOffset) & 0x00fffffffffffe00n);
}

describe('hostile qcow2 images are refused with a typed reason and left unchanged', () => {
  it('a file cut inside the header', async () => {
    const path = await sample();
    await truncate(path, 50);
    await expectRefused(path, 'truncated');
  });

  it('a file cut before its L1 table', async () => {
    const path = await sample();
    await truncate(path, 3 * 4096);
    await expectRefused(path, 'corrupt');
  });

  it('an L1 table larger than QEMU allows', async () => {
    const path = await sample();
    await patch(path, 36, be32(0x1000000));
    await expectRefused(path, 'too-large');
  });

  it('a refcount table larger than QEMU allows', async () => {
    const path = await sample();
    await patch(path, 56, be32(100000));
    await expectRefused(path, 'too-large');
  });

  it('too many snapshots', async () => {
    const path = await sample();
    await patch(path, 60, [...be32(70000), ...be64(4096n * 5n)]);
    await expectRefused(path, 'too-large');
  });

  it('an L1 table offset past the end of the file', async () => {
    const path = await sample();
    await patch(path, 40, be64(1n << 40n));
    await expectRefused(path, 'corrupt');
  });

  it('an unaligned L1 table offset', async () => {
    const path = await sample();
    await patch(path, 40, be64(3n * 4096n + 8n));
    await expectRefused(path, 'corrupt');
  });

  it('an L1 entry pointing past the end of the file', async () => {
    const path = await sample();
    await patch(path, 3 * 4096, be64((1n << 63n) | (1n << 36n)));
    await expectRefused(path, 'corrupt');
  });

  it('an L1 entry pointing into the header cluster', async () => {
    const path = await sample();
    await patch(path, 3 * 4096, be64(1n << 63n));
    await expectRefused(path, 'corrupt');
  });

  it('a refcount block offset past the end of the file', async () => {
    const path = await sample();
    await patch(path, 4096, be64(1n << 40n));
    await expectRefused(path, 'corrupt');
  });

  it('an L1 table overlapping the refcount table', async () => {
    const path = await sample();
    await patch(path, 40, be64(4096n));
    await expectRefused(path, 'corrupt', {}, 'overlaps');
  });

  it('an unaligned data cluster offset in an L2 table: reads fail typed, writes change nothing', async () => {
    const path = await sample();
    const l2 = await l2Offset(path);
    await patch(path, l2, be64((1n << 63n) | (5n * 4096n + 512n)));
    const before = await fileHash(path);
    const image = await openImage(path, { format: 'qcow2' });
    await expect(image.read(new Uint8Array(512), 0)).rejects.toMatchObject({ reason: 'corrupt' });
    await expect(image.write(new Uint8Array(512), 0)).rejects.toMatchObject({ reason: 'corrupt' });
    await (image as Qcow2Image).file.close();
    expect(await fileHash(path)).toBe(before);
  });

  it('a data cluster pointing at the L1 table is never written over', async () => {
    const path = await sample();
    const l2 = await l2Offset(path);
    await patch(path, l2, be64((1n << 63n) | (3n * 4096n)));
    const before = await fileHash(path);
    const image = await openImage(path, { format: 'qcow2' });
    await expect(image.write(new Uint8Array(512).fill(1), 0)).rejects.toMatchObject({ reason: 'corrupt' });
    await (image as Qcow2Image).file.close();
    expect(await fileHash(path)).toBe(before);
  });

  it('a data cluster far past the end of the file is neither written through nor released', async () => {
    const path = await sample();
    const l2 = await l2Offset(path);
    await patch(path, l2, be64((1n << 63n) | (1n << 45n)));
    const before = await fileHash(path);
    const image = await openImage(path, { format: 'qcow2' });
    await expect(image.write(new Uint8Array(512).fill(1), 0)).rejects.toMatchObject({ reason: 'corrupt' });
    await expect(image.discard(0, 4096)).rejects.toMatchObject({ reason: 'corrupt' });
    await (image as Qcow2Image).file.close();
    expect(await fileHash(path)).toBe(before);
  });

  it('a snapshot table past the end of the file, with oversized extra data, or with a bad L1 offset', async () => {
    const withSnapshot = async () => {
      const path = await sample();
      await mustRun('qemu-img', ['snapshot', '-c', 'snap', path]);
      const bytes = await readFile(path);
      return { path, table: Number(bytes.readBigUInt64BE(64)) };
    };
    let { path, table } = await withSnapshot();
    await patch(path, 64, be64(1n << 40n));
    await expectRefused(path, 'corrupt');
    ({ path, table } = await withSnapshot());
    await patch(path, table + 36, be32(2000));
    await expectRefused(path, 'too-large');
    ({ path, table } = await withSnapshot());
    await patch(path, table, be64(4096n * 3n + 100n));
    await expectRefused(path, 'corrupt');
    ({ path, table } = await withSnapshot());
    await patch(path, table + 8, be32(0x1000000));
    await expectRefused(path, 'too-large');
  });

  it('an unknown incompatible feature, named as qemu-img names it', async () => {
    const path = await sample();
    await patch(path, 72, be64(1n << 8n));
    const qemu = await runPeer('qemu-img', ['info', '-f', 'qcow2', path]);
    const qemuReason = /Unsupported qcow2 feature\(s\): (.*)$/m.exec(qemu.stderr)?.[1];
    expect(qemuReason).toBeDefined();
    await expectRefused(path, 'unsupported-feature', {}, `Unsupported qcow2 feature(s): ${qemuReason}`);
  });

  it('an unknown incompatible feature named by the feature table', async () => {
    const path = tmp.path('named-feature.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', path, '1M']);
    // Rename the table's "extended L2 entries" slot to an unknown bit 9 with its own name.
    const bytes = await readFile(path);
    const at = bytes.indexOf(Buffer.from('extended L2 entries')) - 2;
    await patch(path, at, [0, 9, ...Buffer.from('future feature\0')]);
    await patch(path, 72, be64(1n << 9n));
    await expectRefused(path, 'unsupported-feature', {}, 'Unsupported qcow2 feature(s): future feature');
  });

  it('encryption (old AES method)', async () => {
    const path = await sample();
    await patch(path, 32, be32(1));
    await expectRefused(path, 'encrypted');
  });

  it('an external data file', async () => {
    const path = await sample();
    await patch(path, 72, be64(1n << 2n));
    await expectRefused(path, 'unsupported-feature', {}, 'external data file');
  });

  it('a header extension longer than cluster 0', async () => {
    const path = await sample();
    await patch(path, 112, [...be32(0x12345678), ...be32(0x100000)]);
    await expectRefused(path, 'too-large');
  });

  it('a header length below the v3 minimum', async () => {
    const path = await sample();
    await patch(path, 100, be32(80));
    await expectRefused(path, 'corrupt');
  });

  it('the corrupt bit: read-only open works, read-write open is refused unchanged', async () => {
    const path = await sample();
    await patch(path, 72, be64(1n << 1n));
    const before = await fileHash(path);
    const error = await openImage(path, { format: 'qcow2' }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      reason: 'corrupt',
      message: 'qcow2: Image is corrupt; cannot be opened read/write',
    });
    const image = await openImage(path, { format: 'qcow2', readOnly: true });
    const buf = new Uint8Array(8192);
    await image.read(buf, 0);
    expect(buf.every((b) => b === 7)).toBe(true);
    await image.close();
    expect(await fileHash(path)).toBe(before);
  });

  it('unknown autoclear bits are cleared by a read-write open and kept by a read-only one', async () => {
    const path = await sample();
    await patch(path, 88, be64(1n << 5n));
    const ro = await openImage(path, { format: 'qcow2', readOnly: true });
    await ro.close();
    expect(parseHeader((await readFile(path)).subarray(0, 4096)).autoclearFeatures).toBe(1n << 5n);
    const rw = await openImage(path, { format: 'qcow2' });
    await rw.close();
    expect(parseHeader((await readFile(path)).subarray(0, 4096)).autoclearFeatures).toBe(0n);
    await mustRun('qemu-img', ['check', '-q', path]);
  });

  it('inspectImage reports header facts without following backing files, and rejects hostile files typed', async () => {
    const path = tmp.path('inspect.qcow2');
    await createQcow2(path, { size: 1 << 20, backingFile: '/nonexistent/secret', backingFormat: 'raw' });
    const facts = await inspectImage(path);
    expect(facts).toMatchObject({
      format: 'qcow2',
      virtualSize: 1 << 20,
      qcow2: { version: 3, clusterSize: 65536, backingFile: '/nonexistent/secret', backingFormat: 'raw' },
    });
    const raw = tmp.path('inspect.raw');
    await writeFile(raw, new Uint8Array(4096));
    expect(await inspectImage(raw)).toMatchObject({ format: 'raw', virtualSize: 4096 });
    const bad = await sample();
    await patch(bad, 36, be32(0x1000000));
    await expect(inspectImage(bad)).rejects.toMatchObject({ reason: 'too-large' });
  });
});

describe('backing chains are opened safely', () => {
  it('detects a loop', async () => {
    const a = tmp.path('loop-a.qcow2');
    const b = tmp.path('loop-b.qcow2');
    await createQcow2(a, { size: 1 << 20, backingFile: 'loop-b.qcow2', backingFormat: 'qcow2' });
    await createQcow2(b, { size: 1 << 20, backingFile: 'loop-a.qcow2', backingFormat: 'qcow2' });
    await expectRefused(a, 'backing-loop');
    const self = tmp.path('loop-self.qcow2');
    await createQcow2(self, { size: 1 << 20, backingFile: 'loop-self.qcow2', backingFormat: 'qcow2' });
    await expectRefused(self, 'backing-loop');
  });

  it('bounds the chain depth', async () => {
    await createQcow2(tmp.path('deep-0.qcow2'), { size: 1 << 20 });
    for (let i = 1; i <= 4; i++) {
      await createQcow2(tmp.path(`deep-${i}.qcow2`), {
        backingFile: `deep-${i - 1}.qcow2`,
        backingFormat: 'qcow2',
      });
    }
    await expectRefused(tmp.path('deep-4.qcow2'), 'backing-too-deep', { maxChainDepth: 3 });
    const ok = await openImage(tmp.path('deep-4.qcow2'), { format: 'qcow2', maxChainDepth: 4 });
    let depth = 0;
    for (let layer = ok.backing; layer; layer = layer.backing) depth++;
    expect(depth).toBe(4);
    await ok.close();
  });

  it('refuses a backing file without a recorded format unless it is named or probing is allowed read-only', async () => {
    const base = tmp.path('fmt-base.qcow2');
    const top = tmp.path('fmt-top.qcow2');
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', base, '1M']);
    await mustRun('qemu-io', ['-f', 'qcow2', '-c', 'write -P 9 0 4k', base]);
    await createQcow2(top, { backingFile: 'fmt-base.qcow2', backingSize: 1 << 20 });
    await expectRefused(top, 'backing-format-missing');
    await expectRefused(top, 'backing-format-missing', { allowProbing: true, readOnly: false });
    for (const options of [{ backingFormat: 'qcow2' as const }, { readOnly: true, allowProbing: true }]) {
      const image = await openImage(top, { format: 'qcow2', ...options });
      const buf = new Uint8Array(4096);
      await image.read(buf, 0);
      expect(buf.every((b) => b === 9)).toBe(true);
      expect(image.backing?.format).toBe('qcow2');
      await image.close();
    }
    const unfollowed = await openImage(top, { format: 'qcow2', backing: 'none' });
    expect(unfollowed.backing).toBeNull();
    expect(unfollowed.backingFileName).toBe('fmt-base.qcow2');
    await unfollowed.close();
  });

  it('probeFormat tells qcow2 from raw by the magic only', async () => {
    const raw = tmp.path('probe.raw');
    await writeFile(raw, new Uint8Array(1024));
    expect(await probeFormat(raw)).toBe('raw');
    expect(await probeFormat(await sample())).toBe('qcow2');
    await writeFile(tmp.path('tiny'), Uint8Array.of(0x51));
    expect(await probeFormat(tmp.path('tiny'))).toBe('raw');
  });

  it('opens a raw backing file with its recorded format, never as qcow2 even if it looks like one', async () => {
    const base = tmp.path('disguised.raw');
    // A raw disk whose guest wrote a qcow2 header into its first sector.
    await mustRun('qemu-img', ['create', '-q', '-f', 'qcow2', base, '1M']);
    const top = tmp.path('disguised-top.qcow2');
    await createQcow2(top, { backingFile: 'disguised.raw', backingFormat: 'raw' });
    const image = await openImage(top, { format: 'qcow2' });
    expect(image.backing?.format).toBe('raw');
    const first = new Uint8Array(4);
    await image.read(first, 0);
    expect(Buffer.from(first).toString('latin1')).toBe('QFI\xfb');
    await image.close();
  });
});
