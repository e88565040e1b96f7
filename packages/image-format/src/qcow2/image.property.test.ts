import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageError } from '../errors.js';
import type { ImageFile, MemoryFile } from '../image-file.js';
import { memoryQcow2, openMemoryQcow2, pattern, readAll } from '../test-support/memory-chain.js';
import { checkImage } from './check.js';
import { Qcow2Image } from './image.js';
import { applySnapshot, createSnapshot, deleteSnapshot } from './snapshot.js';

/** An ImageFile whose writes complete after a random delay (so concurrent ones can reorder). */
class JitteryFile implements ImageFile {
  private seed = 12345;
  constructor(private readonly inner: MemoryFile) {}
  get path(): string {
    return this.inner.path;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  read(buf: Uint8Array, offset: number): Promise<number> {
    return this.inner.read(buf, offset);
  }
  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
    const copy = Uint8Array.from(buf);
    await new Promise((resolve) => setTimeout(resolve, this.seed % 4));
    await this.inner.write(copy, offset);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  truncate(size: number): Promise<void> {
    return this.inner.truncate(size);
  }
  size(): Promise<number> {
    return this.inner.size();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

type Op =
  | { kind: 'write'; at: number; len: number; seed: number }
  | { kind: 'zero'; at: number; len: number; unmap: boolean }
  | { kind: 'discard'; at: number; len: number }
  | { kind: 'compressed'; cluster: number; seed: number }
  | { kind: 'resize'; to: number }
  | { kind: 'snapshot'; slot: number }
  | { kind: 'apply'; slot: number }
  | { kind: 'delete'; slot: number }
  | { kind: 'reopen' };

/** Fractions of the current size, so operations stay in range as the disk grows and shrinks. */
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      len: fc.integer({ min: 1, max: 20000 }),
      seed: fc.nat(),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('zero' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      len: fc.integer({ min: 1, max: 40000 }),
      unmap: fc.boolean(),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('discard' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      len: fc.integer({ min: 1, max: 40000 }),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('compressed' as const),
      cluster: fc.double({ min: 0, max: 1, noNaN: true }),
      seed: fc.nat(),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('resize' as const),
      to: fc.integer({ min: 1, max: 600 }),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('snapshot' as const),
      slot: fc.integer({ min: 0, max: 2 }),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('apply' as const),
      slot: fc.integer({ min: 0, max: 2 }),
    }) as fc.Arbitrary<Op>,
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      slot: fc.integer({ min: 0, max: 2 }),
    }) as fc.Arbitrary<Op>,
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

interface Config {
  clusterSize: number;
  refcountBits: number;
  compat: '0.10' | '1.1';
  withBacking: boolean;
}

const configArb: fc.Arbitrary<Config> = fc.record({
  clusterSize: fc.constantFrom(512, 1024, 4096, 65536),
  refcountBits: fc.constantFrom(1, 2, 8, 16, 64),
  compat: fc.constantFrom('0.10' as const, '1.1' as const),
  withBacking: fc.boolean(),
});

function resized(model: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(model.subarray(0, Math.min(size, model.length)));
  return out;
}

async function expectImageError(p: Promise<unknown>): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(ImageError);
}

/**
 * Narrow refcounts (QEMU's too) cannot count many references: an operation that would
 * overflow one must be refused before it changes anything. True when it was refused.
 */
async function overflowRefused(p: Promise<unknown>, refcountBits: number): Promise<boolean> {
  try {
    await p;
    return false;
  } catch (e) {
    if (refcountBits < 8 && e instanceof ImageError && e.message.includes('Refcount overflow')) return true;
    throw e;
  }
}

async function runScenario(
  config: Config,
  baseWrites: Array<[number, number, number]>,
  ops: Op[],
): Promise<void> {
  const refcountBits = config.compat === '0.10' ? 16 : config.refcountBits;
  const baseSize = 160 * 1024;
  const baseFile = await memoryQcow2(
    { size: baseSize, clusterSize: config.clusterSize, refcountBits },
    'base.qcow2',
  );
  const baseModel = new Uint8Array(baseSize);
  {
    const base = await openMemoryQcow2(baseFile);
    for (const [at, len, seed] of baseWrites) {
      const offset = Math.floor(at * (baseSize - 1));
      const data = pattern(Math.min(len, baseSize - offset), seed);
      await base.write(data, offset);
      baseModel.set(data, offset);
    }
    await base.close();
  }
  let size = 192 * 1024;
  const topOptions = {
    size,
    clusterSize: config.clusterSize,
    refcountBits,
    compat: config.compat,
    ...(config.withBacking ? { backingFile: 'base.qcow2', backingFormat: 'qcow2' as const } : {}),
  };
  const topFile = await memoryQcow2(topOptions, 'top.qcow2');
  const open = async (): Promise<Qcow2Image> =>
    openMemoryQcow2(topFile, config.withBacking ? await openMemoryQcow2(baseFile) : null);
  let image = await open();
  let model: Uint8Array = new Uint8Array(size);
  if (config.withBacking) model.set(baseModel.subarray(0, size));
  const snapshots: Array<{ name: string; model: Uint8Array } | null> = [null, null, null];
  const cs = config.clusterSize;
  const v3 = config.compat === '1.1';
  let counter = 0;

  for (const op of ops) {
    switch (op.kind) {
      case 'write': {
        const at = Math.floor(op.at * (size - 1));
        const data = pattern(Math.min(op.len, size - at), op.seed);
        await image.write(data, at);
        model.set(data, at);
        break;
      }
      case 'zero': {
        const at = Math.floor(op.at * (size - 1));
        const len = Math.min(op.len, size - at);
        await image.writeZeroes(at, len, { mayUnmap: op.unmap });
        model.fill(0, at, at + len);
        break;
      }
      case 'discard': {
        const at = Math.floor(op.at * (size - 1));
        const len = Math.min(op.len, size - at);
        await image.discard(at, len);
        // v2 over a backing file cannot discard without exposing the backing: a no-op.
        if (!v3 && config.withBacking) break;
        // Whole clusters (and the partial last one) read as zeros afterwards.
        const start = Math.ceil(at / cs) * cs;
        let end = Math.floor((at + len) / cs) * cs;
        if (at + len === size) end = size;
        if (start < end) model.fill(0, start, end);
        break;
      }
      case 'compressed': {
        const cluster = Math.floor(op.cluster * (Math.ceil(size / cs) - 1));
        const offset = cluster * cs;
        const len = Math.min(cs, size - offset);
        const [status] = await image.blockStatus(offset, len);
        // Half compressible, half pattern, so both the compressed and the fallback path run.
        const data = pattern(len, op.seed);
        data.fill(0, 0, Math.floor(len / 2));
        if (status?.status === 'unallocated' && status.length >= len) {
          await image.writeCompressed(data, offset);
          model.set(data, offset);
        } else {
          await expectImageError(image.writeCompressed(data, offset));
        }
        break;
      }
      case 'resize': {
        const to = op.to * 512;
        if (to === size) break;
        await image.resize(to, { shrink: true });
        const next = resized(model, to);
        size = to;
        model = next;
        break;
      }
      case 'snapshot': {
        if (snapshots[op.slot]) break;
        const name = `s${counter++}`;
        if (refcountBits < 2) {
          await expectImageError(createSnapshot(image, name));
          break;
        }
        if (await overflowRefused(createSnapshot(image, name), refcountBits)) break;
        snapshots[op.slot] = { name, model: model.slice() };
        break;
      }
      case 'apply': {
        const snap = snapshots[op.slot];
        if (!snap) break;
        if (await overflowRefused(applySnapshot(image, snap.name), refcountBits)) break;
        model = snap.model.slice();
        size = model.length;
        break;
      }
      case 'delete': {
        const snap = snapshots[op.slot];
        if (!snap) break;
        await deleteSnapshot(image, snap.name);
        snapshots[op.slot] = null;
        break;
      }
      case 'reopen':
        await image.close();
        image = await open();
        break;
    }
  }
  expect(image.virtualSize).toBe(size);
  expect(Buffer.from(await readAll(image)).equals(Buffer.from(model))).toBe(true);
  await image.close();
  const check = await checkImage(topFile);
  expect({
    corruptions: check.corruptions,
    leaks: check.leaks,
    errors: check.checkErrors,
    messages: check.messages,
  }).toEqual({
    corruptions: 0,
    leaks: 0,
    errors: 0,
    messages: [],
  });
  // And after reopening, the same bytes.
  image = await open();
  expect(Buffer.from(await readAll(image)).equals(Buffer.from(model))).toBe(true);
  await image.close();
}

describe('qcow2 image against a flat byte model', () => {
  it('random write/zero/discard/compress/resize/snapshot sequences on chains read back like the model and check clean', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.array(
          fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 30000 }), fc.nat()),
          { maxLength: 4 },
        ),
        fc.array(opArb, { minLength: 1, maxLength: 25 }),
        async (config, baseWrites, ops) => runScenario(config, baseWrites, ops),
      ),
      { numRuns: 60 },
    );
  });

  it('keeps concurrent writes and reads consistent', async () => {
    const file: MemoryFile = await memoryQcow2({ size: 1 << 20, clusterSize: 4096 });
    // Host writes finish in random order, as they may on a real disk.
    const image = await Qcow2Image.open(new JitteryFile(file));
    const model = new Uint8Array(1 << 20);
    const writes: Promise<void>[] = [];
    const fill = image.write(pattern(1 << 20, 77), 0);
    model.set(pattern(1 << 20, 77), 0);
    writes.push(fill);
    for (let i = 0; i < 64; i++) {
      const at = (i * 7919 * 13) % ((1 << 20) - 9000);
      const data = pattern(9000, i);
      model.set(data, at);
      writes.push(image.write(data, at));
      writes.push(image.read(new Uint8Array(5000), (i * 4099) % ((1 << 20) - 5000)));
    }
    await Promise.all(writes);
    // Overlapping writes were queued in order, so the model's last-writer-wins holds.
    expect(Buffer.from(await readAll(image)).equals(Buffer.from(model))).toBe(true);
    // Now every cluster is allocated: overwrites take the concurrent in-place path, and
    // overlapping ones must still land in the order they were issued.
    const overwrites: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) {
      const at = (i * 104729) % ((1 << 20) - 20000);
      const data = pattern(20000, 1000 + i);
      model.set(data, at);
      overwrites.push(image.write(data, at));
    }
    await Promise.all(overwrites);
    expect(Buffer.from(await readAll(image)).equals(Buffer.from(model))).toBe(true);
    await image.close();
    const check = await checkImage(file);
    expect(check.corruptions + check.leaks).toBe(0);
  });
});
