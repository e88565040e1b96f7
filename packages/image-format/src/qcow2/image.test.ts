import { describe, expect, it } from 'vitest';
import { chainBlockStatus } from '../chain-status.js';
import { MemoryFile } from '../image-file.js';
import { RawImage } from '../raw/raw-image.js';
import { memoryQcow2, openMemoryQcow2, pattern, readAll } from '../test-support/memory-chain.js';
import { checkImage } from './check.js';
import { ClusterKind, classify, compressedLocation, entryHi, entryLo, isCopied } from './l2-entry.js';
import { Qcow2Image } from './image.js';
import { createSnapshot, deleteSnapshot } from './snapshot.js';

const K = 1024;

async function entryOf(image: Qcow2Image, guest: number): Promise<{ kind: number; copied: boolean }> {
  const table = await image.l2Table(Math.floor(guest / (image.clusterSize * image.l2Entries)));
  if (!table) return { kind: ClusterKind.Unallocated, copied: false };
  const index = Math.floor(guest / image.clusterSize) % image.l2Entries;
  const hi = entryHi(table.view, index);
  return { kind: classify(hi, entryLo(table.view, index), image.v3), copied: isCopied(hi) };
}

async function expectClean(file: MemoryFile): Promise<void> {
  const result = await checkImage(file);
  expect({ corruptions: result.corruptions, leaks: result.leaks, messages: result.messages }).toEqual({
    corruptions: 0,
    leaks: 0,
    messages: [],
  });
}

async function chain(compat: '0.10' | '1.1' = '1.1') {
  const baseFile = await memoryQcow2({ size: 256 * K, clusterSize: 4096 }, 'base.qcow2');
  const base = await openMemoryQcow2(baseFile);
  await base.write(new Uint8Array(256 * K).fill(0xbb), 0);
  await base.close();
  const topFile = await memoryQcow2(
    { size: 256 * K, clusterSize: 4096, compat, backingFile: 'base.qcow2', backingFormat: 'qcow2' },
    'top.qcow2',
  );
  const top = await openMemoryQcow2(topFile, await openMemoryQcow2(baseFile));
  return { top, topFile };
}

describe('Qcow2Image write semantics', () => {
  it('fills a partial write into an unallocated cluster from the backing file (COW)', async () => {
    const { top, topFile } = await chain();
    await top.write(Uint8Array.of(1, 2, 3), 4096 + 100);
    const cluster = new Uint8Array(4096);
    await top.read(cluster, 4096);
    expect(cluster[99]).toBe(0xbb);
    expect([...cluster.subarray(100, 103)]).toEqual([1, 2, 3]);
    expect(cluster[103]).toBe(0xbb);
    expect(await entryOf(top, 4096)).toEqual({ kind: ClusterKind.Normal, copied: true });
    await top.close();
    await expectClean(topFile);
  });

  it('never takes COW data from the backing file for a zero cluster', async () => {
    const { top } = await chain();
    await top.writeZeroes(8192, 4096);
    expect(await entryOf(top, 8192)).toEqual({ kind: ClusterKind.ZeroPlain, copied: false });
    await top.write(Uint8Array.of(9), 8192 + 10);
    const cluster = new Uint8Array(4096);
    await top.read(cluster, 8192);
    expect(cluster[10]).toBe(9);
    expect(cluster.filter((b) => b !== 0).length).toBe(1);
    await top.close();
  });

  it('keeps a preallocated zero cluster unless unmapping is allowed, and reuses it zero-filled', async () => {
    const file = await memoryQcow2({ size: 64 * K, clusterSize: 4096 });
    const image = await openMemoryQcow2(file);
    await image.write(new Uint8Array(8192).fill(5), 0);
    await image.writeZeroes(0, 4096);
    expect(await entryOf(image, 0)).toEqual({ kind: ClusterKind.ZeroAlloc, copied: true });
    await image.writeZeroes(4096, 4096, { mayUnmap: true });
    expect(await entryOf(image, 4096)).toEqual({ kind: ClusterKind.ZeroPlain, copied: false });
    const [before] = await image.blockStatus(0, 4096);
    await image.write(Uint8Array.of(1), 7);
    const [after] = await image.blockStatus(0, 4096);
    expect(after?.hostOffset).toBe(before?.hostOffset);
    const cluster = new Uint8Array(4096);
    await image.read(cluster, 0);
    expect(cluster.filter((b) => b !== 0)).toEqual(Uint8Array.of(1));
    await image.close();
    await expectClean(file);
  });

  it('turns a partial-cluster zero write into a zero cluster only when the rest already reads zero', async () => {
    const { top } = await chain();
    await top.writeZeroes(100, 200);
    expect((await entryOf(top, 0)).kind).toBe(ClusterKind.Normal);
    const head = new Uint8Array(400);
    await top.read(head, 0);
    expect(head[99]).toBe(0xbb);
    expect(head.subarray(100, 300).every((b) => b === 0)).toBe(true);
    const fresh = await openMemoryQcow2(await memoryQcow2({ size: 64 * K, clusterSize: 4096 }));
    await fresh.writeZeroes(100, 200);
    expect((await entryOf(fresh, 0)).kind).toBe(ClusterKind.ZeroPlain);
    await top.close();
  });

  it('v2 with a backing file writes zeroes as data and ignores discard', async () => {
    const { top, topFile } = await chain('0.10');
    await top.writeZeroes(0, 8192);
    expect((await entryOf(top, 0)).kind).toBe(ClusterKind.Normal);
    const buf = new Uint8Array(8192);
    await top.read(buf, 0);
    expect(buf.every((b) => b === 0)).toBe(true);
    // Discard is a no-op there (as in QEMU): the zeros stay.
    await top.write(new Uint8Array(8192).fill(4), 0);
    await top.discard(0, 8192);
    await top.read(buf, 0);
    expect(buf.every((b) => b === 4)).toBe(true);
    await top.close();
    await expectClean(topFile);
  });

  it('discard on v3 with a backing file hides the backing data behind zero clusters', async () => {
    const { top } = await chain();
    await top.write(new Uint8Array(4096).fill(1), 0);
    await top.discard(0, 12288);
    const buf = new Uint8Array(12288);
    await top.read(buf, 0);
    expect(buf.every((b) => b === 0)).toBe(true);
    expect((await entryOf(top, 8192)).kind).toBe(ClusterKind.ZeroPlain);
    await top.close();
  });

  it('writes compressed clusters only into unallocated clusters, and plain clusters when they do not shrink', async () => {
    const file = await memoryQcow2({ size: 64 * K, clusterSize: 4096 });
    const image = await openMemoryQcow2(file);
    await image.writeCompressed(new Uint8Array(4096).fill(3), 0);
    await image.writeCompressed(new Uint8Array(4096).fill(4), 4096);
    expect((await entryOf(image, 0)).kind).toBe(ClusterKind.Compressed);
    // Compressed clusters have no host offset to report: adjacent ones merge into one extent.
    expect(await image.blockStatus(0, 12288)).toEqual([
      { offset: 0, length: 8192, status: 'data', compressed: true },
      { offset: 8192, length: 4096, status: 'unallocated' },
    ]);
    // Both compressed clusters share one host cluster, which holds two references.
    const table = await image.l2Table(0);
    if (!table) throw new Error('no L2 table');
    const first = compressedLocation(entryHi(table.view, 0), entryLo(table.view, 0), 12);
    const second = compressedLocation(entryHi(table.view, 1), entryLo(table.view, 1), 12);
    expect(Math.floor(second.offset / 4096)).toBe(Math.floor(first.offset / 4096));
    expect(await image.refcounts.get(Math.floor(first.offset / 4096))).toBe(2);
    await expect(image.writeCompressed(new Uint8Array(4096), 0)).rejects.toMatchObject({
      reason: 'invalid-argument',
    });
    await expect(image.writeCompressed(new Uint8Array(4096), 100)).rejects.toMatchObject({
      reason: 'invalid-argument',
    });
    await image.writeCompressed(pattern(4096, 1), 8192);
    expect(await entryOf(image, 8192)).toEqual({ kind: ClusterKind.Normal, copied: true });
    // Overwriting part of a compressed cluster decompresses it into a new cluster.
    await image.write(Uint8Array.of(9), 1);
    const buf = new Uint8Array(4096);
    await image.read(buf, 0);
    expect(buf[0]).toBe(3);
    expect(buf[1]).toBe(9);
    expect(buf[2]).toBe(3);
    await image.close();
    await expectClean(file);
  });

  it('maintains COPIED flags through snapshots', async () => {
    const file = await memoryQcow2({ size: 64 * K, clusterSize: 4096 });
    const image = await openMemoryQcow2(file);
    await image.write(new Uint8Array(8192).fill(1), 0);
    await createSnapshot(image, 'a');
    expect(await entryOf(image, 0)).toEqual({ kind: ClusterKind.Normal, copied: false });
    expect(image.l1Copied[0]).toBe(0);
    await image.write(Uint8Array.of(2), 0);
    expect(await entryOf(image, 0)).toEqual({ kind: ClusterKind.Normal, copied: true });
    expect(await entryOf(image, 4096)).toEqual({ kind: ClusterKind.Normal, copied: false });
    expect(image.l1Copied[0]).toBe(1);
    await deleteSnapshot(image, 'a');
    expect(await entryOf(image, 4096)).toEqual({ kind: ClusterKind.Normal, copied: true });
    await expect(deleteSnapshot(image, 'a')).rejects.toMatchObject({ reason: 'not-found' });
    await createSnapshot(image, 'b');
    await expect(createSnapshot(image, 'b')).rejects.toMatchObject({ reason: 'exists' });
    await image.close();
    await expectClean(file);
  });

  it('writes metadata only after the data it points at is flushed', async () => {
    const file = await memoryQcow2({ size: 64 * K, clusterSize: 4096 });
    const image = await openMemoryQcow2(file);
    const flushesBefore = file.flushes;
    await image.write(new Uint8Array(4096).fill(1), 0);
    // Until a flush, the on-disk L1 still shows nothing allocated.
    const reopened = await openMemoryQcow2(new MemoryFile('copy', file.contents()));
    expect(await readAll(reopened)).toEqual(new Uint8Array(64 * K));
    await image.flush();
    expect(file.flushes - flushesBefore).toBeGreaterThanOrEqual(3);
    const after = await openMemoryQcow2(new MemoryFile('copy2', file.contents()));
    const buf = new Uint8Array(4096);
    await after.read(buf, 0);
    expect(buf.every((b) => b === 1)).toBe(true);
    await image.close();
  });

  it('refuses requests out of range, on read-only images and after close', async () => {
    const file = await memoryQcow2({ size: 64 * K, clusterSize: 4096 });
    const ro = await (await import('./image.js')).Qcow2Image.open(file, { readOnly: true });
    await expect(ro.write(new Uint8Array(1), 0)).rejects.toMatchObject({ reason: 'read-only' });
    await expect(ro.read(new Uint8Array(2), 64 * K - 1)).rejects.toMatchObject({ reason: 'out-of-range' });
    await expect(ro.read(new Uint8Array(1), -1)).rejects.toMatchObject({ reason: 'invalid-argument' });
    await ro.close();
    await expect(ro.read(new Uint8Array(1), 0)).rejects.toMatchObject({ reason: 'closed' });
  });

  it.each([
    16, 32, 64,
  ])('grows the refcount table past its first cluster and the L1 table (512-byte clusters, %i-bit refcounts)', async (refcountBits) => {
    const file = await memoryQcow2({ size: 64 * K, clusterSize: 512, refcountBits });
    const image = await openMemoryQcow2(file);
    const before = image.refcounts.tableOffset;
    // One refcount table cluster covers 64 blocks of 4096 * 8 / bits clusters each.
    const covered = 64 * ((512 * 8) / refcountBits) * 512;
    await image.resize(covered + 1024 * K);
    const data = pattern(covered + 100 * K, refcountBits);
    await image.write(data, 1000);
    expect(image.refcounts.tableOffset).not.toBe(before);
    const back = new Uint8Array(data.length);
    await image.read(back, 1000);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    await image.close();
    await expectClean(file);
  });
});

describe('small caches', () => {
  it('writes back as it goes when a long operation dirties more tables than the cache holds', async () => {
    const file = await memoryQcow2({ size: 2048 * K, clusterSize: 512 });
    const image = await openMemoryQcow2(file);
    image.l2Cache.capacity = 2;
    const data = pattern(1500 * K, 5);
    await image.write(data, 700);
    await image.writeZeroes(100 * K, 300 * K);
    data.fill(0, 100 * K - 700, 400 * K - 700);
    await image.discard(900 * K, 200 * K);
    data.fill(0, 900 * K - 700, 1100 * K - 700);
    expect(image.l2Cache.dirtyTables).toBeLessThanOrEqual(3);
    const back = new Uint8Array(data.length);
    await image.read(back, 700);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    await image.close();
    await expectClean(file);
  });
});

describe('backing file changes and emptying', () => {
  it('records a new backing file and empties the active state', async () => {
    const { top, topFile } = await chain();
    await top.write(new Uint8Array(8192).fill(1), 4096);
    await top.setBackingFile('other.qcow2', 'raw');
    expect(top.backingFileName).toBe('other.qcow2');
    expect(top.backingFormat).toBe('raw');
    await top.setBackingFile('base.qcow2', 'qcow2');
    await top.makeEmpty();
    expect(await top.blockStatus(0, 256 * K)).toEqual([
      { offset: 0, length: 256 * K, status: 'unallocated' },
    ]);
    const buf = new Uint8Array(8192);
    await top.read(buf, 4096);
    expect(buf.every((b) => b === 0xbb)).toBe(true);
    await top.setBackingFile(null, null);
    await top.close();
    const reopened = await openMemoryQcow2(topFile);
    expect(reopened.backingFileName).toBeNull();
    await reopened.close();
    await expectClean(topFile);
  });

  it('refuses both on a read-only image and leaves the file unchanged', async () => {
    const { top, topFile } = await chain();
    await top.write(new Uint8Array(4096).fill(1), 0);
    await top.close();
    const before = Buffer.from(topFile.contents());
    const readOnly = await Qcow2Image.open(topFile, { readOnly: true });
    await expect(readOnly.setBackingFile('other.qcow2', 'qcow2')).rejects.toMatchObject({
      reason: 'read-only',
    });
    await expect(readOnly.makeEmpty()).rejects.toMatchObject({ reason: 'read-only' });
    await readOnly.close();
    expect(Buffer.from(topFile.contents()).equals(before)).toBe(true);
  });
});

describe('block status', () => {
  it('reports data, zero and unallocated ranges per layer and through the chain', async () => {
    const { top } = await chain();
    await top.write(new Uint8Array(8192).fill(1), 0);
    await top.writeZeroes(16384, 4096, { mayUnmap: true });
    const layer = await top.blockStatus(0, 32768);
    expect(layer.map((e) => [e.offset, e.length, e.status])).toEqual([
      [0, 8192, 'data'],
      [8192, 8192, 'unallocated'],
      [16384, 4096, 'zero'],
      [20480, 12288, 'unallocated'],
    ]);
    const map = await chainBlockStatus(top, 0, 32768);
    expect(map.map((e) => [e.start, e.length, e.depth, e.present, e.zero, e.data])).toEqual([
      [0, 8192, 0, true, false, true],
      [8192, 8192, 1, true, false, true],
      [16384, 4096, 0, true, true, false],
      [20480, 12288, 1, true, false, true],
    ]);
    await top.close();
  });

  it('treats a raw image as all data and reads zeros past a short backing file', async () => {
    const raw = await RawImage.open(new MemoryFile('raw', new Uint8Array(4096).fill(2)));
    expect(await raw.blockStatus(0, 4096)).toEqual([
      { offset: 0, length: 4096, status: 'data', hostOffset: 0 },
    ]);
    const topFile = await memoryQcow2({
      size: 8192,
      clusterSize: 4096,
      backingFile: 'raw',
      backingFormat: 'raw',
    });
    const top = await openMemoryQcow2(topFile, raw);
    const all = await readAll(top);
    expect(all.subarray(0, 4096).every((b) => b === 2)).toBe(true);
    expect(all.subarray(4096).every((b) => b === 0)).toBe(true);
    const map = await chainBlockStatus(top);
    expect(map.map((e) => [e.start, e.length, e.depth, e.present])).toEqual([
      [0, 4096, 1, true],
      [4096, 4096, 0, false],
    ]);
    await top.close();
  });
});
