import fc from 'fast-check';
import type { BackingStore, DiskDef, MirrorDef, StorageSource } from '../disk/types.js';
import type { DomainDef } from '../domain/types.js';
import type { XmlMode } from '../mode.js';
import type { SnapshotDef, SnapshotDiskDef, SnapshotState } from '../snapshot/types.js';

// Generators of models in the canonical shape the parser produces (attributes in libvirt's
// order, no carried elements), so that parse(format(model)) can be compared with the model.

/** Text with XML's markup characters, to exercise escaping. */
const tricky = fc.stringMatching(/^[a-zA-Z0-9_.<>&'" -]{1,16}$/);
const absPath = fc.stringMatching(/^\/[a-zA-Z0-9_.<>&' -]{1,16}(\/[a-zA-Z0-9_.-]{1,8}){0,2}$/);
const format = fc.constantFrom('raw', 'qcow2', 'qed', 'vmdk') as fc.Arbitrary<
  'raw' | 'qcow2' | 'qed' | 'vmdk'
>;
const index = fc.integer({ min: 1, max: 10_000 });

function base(type: StorageSource['type']): StorageSource {
  return {
    type,
    hosts: [],
    slices: [],
    extraAttributes: [],
    extraElements: [],
    backingStore: { kind: 'unknown' },
  };
}

/** A file, block or network (nbd, gluster) image without its chain. */
function image(mode: XmlMode, withIndex: boolean): fc.Arbitrary<StorageSource> {
  const idx =
    withIndex && mode !== 'inactive' ? fc.option(index, { nil: undefined }) : fc.constant(undefined);
  const file = fc
    .record({
      path: absPath,
      fdgroup: fc.option(fc.stringMatching(/^[a-z0-9]{1,8}$/), { nil: undefined }),
      slice: fc.option(
        // libvirt's schema types a slice offset as a 32-bit unsignedInt.
        fc.record({
          offset: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          size: fc.integer({ min: 1, max: 2 ** 40 }),
        }),
        {
          nil: undefined,
        },
      ),
    })
    .map(({ path, fdgroup, slice }) => ({ ...base('file'), path, fdgroup, slices: slice ? [slice] : [] }));
  const block = absPath.map((path) => ({ ...base('block'), path }));
  const nbd = fc
    .record({
      name: fc.option(tricky, { nil: undefined }),
      host: fc.oneof(
        fc.record({
          name: fc.stringMatching(/^[a-z][a-z0-9.-]{0,15}$/),
          port: fc.integer({ min: 1, max: 65535 }).map(String),
        }),
        absPath.map((socket) => ({ transport: 'unix' as const, socket })),
      ),
    })
    .map(({ name, host }) => ({ ...base('network'), protocol: 'nbd' as const, path: name, hosts: [host] }));
  const gluster = fc
    .record({
      name: fc.stringMatching(/^[a-z]{1,8}\/[a-z0-9.]{1,8}$/),
      hosts: fc.array(
        fc.record({
          name: fc.stringMatching(/^[a-z][a-z0-9.-]{0,15}$/),
          port: fc.integer({ min: 1, max: 65535 }).map(String),
        }),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
    })
    .map(({ name, hosts }) => ({ ...base('network'), protocol: 'gluster' as const, path: name, hosts }));
  return fc
    .tuple(fc.oneof(file, block, nbd, gluster), idx)
    .map(([src, i]) => (i === undefined ? src : { ...src, index: i }));
}

/** A backing chain of up to `depth` images, ending in unknown or a terminator. */
function chain(mode: XmlMode, depth: number): fc.Arbitrary<BackingStore> {
  const end = fc.constantFrom<BackingStore>({ kind: 'unknown' }, { kind: 'end' });
  if (depth === 0) return end;
  return fc.oneof(
    end,
    fc
      .tuple(
        image(mode, true),
        format,
        fc.option(fc.integer({ min: 0, max: 2 ** 30 }), { nil: undefined }),
        chain(mode, depth - 1),
      )
      .map(
        ([img, fmt, cache, below]): BackingStore => ({
          kind: 'image',
          image: { ...img, format: fmt, metadataCacheMaxSize: cache, backingStore: below },
        }),
      ),
  );
}

function mirror(mode: XmlMode): fc.Arbitrary<MirrorDef | undefined> {
  if (mode === 'inactive') return fc.constant(undefined);
  return fc.option(
    fc
      .record({
        job: fc.constantFrom('copy', 'active-commit') as fc.Arbitrary<MirrorDef['job']>,
        ready: fc.option(
          fc.constantFrom('yes', 'abort', 'pivot') as fc.Arbitrary<'yes' | 'abort' | 'pivot'>,
          { nil: undefined },
        ),
        source: image(mode, true),
        format,
        backing: chain(mode, 1),
      })
      .map(({ job, ready, source, format: fmt, backing }) => {
        const m: MirrorDef = { job, source: { ...source, format: fmt, backingStore: backing } };
        if (ready) m.ready = ready;
        return m;
      }),
    { nil: undefined },
  );
}

const DRIVER_CHOICES: [string, readonly string[]][] = [
  ['name', ['qemu']],
  ['cache', ['none', 'writeback', 'directsync', 'unsafe']],
  ['io', ['threads', 'native', 'io_uring']],
  ['discard', ['unmap', 'ignore']],
  ['detect_zeroes', ['off', 'on', 'unmap']],
];

const driverAttributes = fc
  .tuple(
    ...DRIVER_CHOICES.map(([name, values]) =>
      fc.option(
        fc.constantFrom(...values).map((v) => [name, v] as const),
        { nil: undefined },
      ),
    ),
  )
  .map((entries) => entries.filter((e): e is readonly [string, string] => e !== undefined));

/** A guest-visible `<disk>` in the canonical parsed shape for `mode`. */
export function diskArbitrary(mode: XmlMode, dev: string): fc.Arbitrary<DiskDef> {
  return fc
    .record({
      top: image(mode, true),
      format,
      cache: fc.option(fc.integer({ min: 0, max: 2 ** 30 }), { nil: undefined }),
      backing: chain(mode, 3),
      mirror: mirror(mode),
      driver: driverAttributes,
      bus: fc.constantFrom('virtio', 'sata', 'scsi'),
      readonly: fc.boolean(),
      shareable: fc.boolean(),
      snapshot: fc.option(
        fc.constantFrom('no', 'internal', 'external', 'manual') as fc.Arbitrary<DiskDef['snapshot'] & string>,
        {
          nil: undefined,
        },
      ),
      serial: fc.option(fc.stringMatching(/^[A-Za-z0-9_.+-]{1,20}$/), { nil: undefined }),
      boot: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
      pci: fc.option(fc.tuple(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0, max: 7 })), {
        nil: undefined,
      }),
      alias: fc.option(
        mode === 'inactive' ? fc.constant('ua-disk') : fc.constantFrom('ua-disk', 'virtio-disk0'),
        { nil: undefined },
      ),
    })
    .map((r) => {
      const disk: DiskDef = {
        element: 'disk',
        device: 'disk',
        source: { ...r.top, format: r.format, metadataCacheMaxSize: r.cache, backingStore: r.backing },
        target: { dev, bus: r.bus, extraAttributes: [] },
        readonly: r.readonly,
        shareable: r.shareable,
        driver: { attributes: r.driver },
        extraElements: [],
        extraAttributes: [],
      };
      // libvirt does not write snapshot='no' on a read-only disk (it is implied there).
      if (r.snapshot && !(r.snapshot === 'no' && r.readonly)) disk.snapshot = r.snapshot;
      if (r.mirror) disk.mirror = r.mirror;
      if (r.alias) disk.alias = r.alias;
      if (r.serial !== undefined) disk.serial = r.serial;
      if (r.boot !== undefined) disk.boot = { order: r.boot };
      if (r.pci) {
        const [slot, fn] = r.pci;
        disk.address = {
          type: 'pci',
          attributes: [
            ['domain', '0x0000'],
            ['bus', '0x00'],
            ['slot', `0x${slot.toString(16).padStart(2, '0')}`],
            ['function', `0x${fn.toString(16)}`],
          ],
        };
      }
      return disk;
    });
}

/** A domain with up to four disks. */
export function domainArbitrary(mode: XmlMode): fc.Arbitrary<DomainDef> {
  return fc
    .record({
      name: tricky,
      uuid: fc.uuid(),
      description: fc.option(tricky, { nil: undefined }),
      kib: fc.integer({ min: 1024, max: 2 ** 32 }),
      vcpus: fc.integer({ min: 1, max: 64 }),
      disks: fc.array(diskArbitrary(mode, 'vda'), { maxLength: 4 }),
    })
    .map((r) => {
      const domain: DomainDef = {
        type: 'kvm',
        extraAttributes: [],
        name: r.name,
        uuid: r.uuid,
        memory: { kib: r.kib, extraAttributes: [] },
        vcpu: { count: r.vcpus, placement: 'static', extraAttributes: [] },
        os: { type: 'hvm', typeAttributes: [['arch', 'x86_64']], extraElements: [], attributes: [] },
        devices: r.disks.map((disk, i) => ({
          kind: 'disk' as const,
          disk: { ...disk, target: { dev: `vd${'abcd'[i]}`, bus: disk.target?.bus, extraAttributes: [] } },
        })),
        entries: [],
      };
      if (r.description !== undefined) domain.description = r.description;
      for (const name of ['name', 'uuid', 'description', 'memory', 'vcpu', 'os', 'devices'] as const) {
        if (domain[name] !== undefined) domain.entries.push({ kind: 'typed', name });
      }
      return domain;
    });
}

const ONLINE: SnapshotState[] = ['running', 'paused', 'shutdown', 'crashed'];
const OFFLINE: SnapshotState[] = ['shutoff', 'disk-snapshot'];

function snapshotDisk(name: string): fc.Arbitrary<SnapshotDiskDef> {
  const undescribed = fc
    .option(fc.constantFrom('no', 'internal', 'manual') as fc.Arbitrary<'no' | 'internal' | 'manual'>, {
      nil: undefined,
    })
    .map((snapshot): SnapshotDiskDef => {
      const d: SnapshotDiskDef = { name, source: base('file'), deleteInProgress: false };
      if (snapshot) d.snapshot = snapshot;
      return d;
    });
  const external = fc
    .record({
      // A network overlay must be named, or libvirt does not describe it (nor does Strata).
      src: image('inactive', false).filter((src) => src.path !== undefined),
      format: fc.option(fc.constantFrom('qcow2', 'qed') as fc.Arbitrary<'qcow2' | 'qed'>, { nil: undefined }),
      deleting: fc.boolean(),
      mirror: fc.option(fc.tuple(absPath, format), { nil: undefined }),
    })
    .map((r): SnapshotDiskDef => {
      const d: SnapshotDiskDef = {
        name,
        snapshot: 'external',
        source: { ...r.src, slices: [], fdgroup: undefined, format: r.format },
        deleteInProgress: r.deleting,
      };
      if (r.mirror) d.mirror = { ...base('file'), path: r.mirror[0], format: r.mirror[1] };
      return d;
    });
  return fc.oneof(undescribed, external);
}

/** A redefinable snapshot (state, creationTime and memory set as libvirt's redefine parse leaves them). */
export function snapshotArbitrary(): fc.Arbitrary<SnapshotDef> {
  return fc
    .record({
      name: tricky,
      description: fc.option(tricky, { nil: undefined }),
      offline: fc.boolean(),
      stateIndex: fc.nat(),
      parent: fc.option(tricky, { nil: undefined }),
      creationTime: fc.integer({ min: 1, max: 2 ** 40 }),
      memory: fc.oneof(
        fc.constant({ snapshot: 'no' as const }),
        fc.constant({ snapshot: 'internal' as const }),
        absPath.map((file) => ({ snapshot: 'external' as const, file })),
      ),
      disks: fc
        .array(snapshotDisk('vda'), { maxLength: 3 })
        .map((disks) => disks.map((d, i) => ({ ...d, name: `vd${'abc'[i]}` }))),
      active: fc.boolean(),
    })
    .map((r) => {
      const states = r.offline ? OFFLINE : ONLINE;
      const def: SnapshotDef = {
        name: r.name,
        state: states[r.stateIndex % states.length]!,
        creationTime: r.creationTime,
        memory: r.offline ? { snapshot: 'no' } : r.memory,
        disks: r.disks,
        active: r.active,
      };
      if (r.description !== undefined) def.description = r.description;
      if (r.parent !== undefined) def.parent = r.parent;
      return def;
    });
}

/** A file image with an explicit format and index, as used inside Strata's extension disks. */
function indexedFile(): fc.Arbitrary<StorageSource> {
  return fc.record({ path: absPath, format, index }).map(({ path, format: fmt, index: i }) => ({
    ...base('file'),
    path,
    format: fmt,
    index: i,
    backingStore: { kind: 'end' },
  }));
}

/**
 * A quorum disk over one to three images, or a secondary replication disk over an active and a
 * hidden qcow2 image ending in a reference (Strata's extension), in any form.
 */
export function extensionDiskArbitrary(dev: string): fc.Arbitrary<DiskDef> {
  const quorum = fc
    .record({
      children: fc.array(indexedFile(), { minLength: 1, maxLength: 3 }),
      threshold: fc.integer({ min: 1, max: 3 }),
      readPattern: fc.option(fc.constantFrom('quorum', 'fifo') as fc.Arbitrary<'quorum' | 'fifo'>, {
        nil: undefined,
      }),
      index: fc.option(index, { nil: undefined }),
    })
    .map((r): StorageSource => {
      const src: StorageSource = {
        ...base('quorum'),
        quorum: { threshold: Math.min(r.threshold, r.children.length) },
        children: r.children,
      };
      if (r.readPattern && src.quorum) src.quorum.readPattern = r.readPattern;
      if (r.index !== undefined) src.index = r.index;
      return src;
    });
  const replication = fc
    .record({
      active: absPath,
      hidden: absPath,
      refDev: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
      refIndex: index,
    })
    .map((r): StorageSource => {
      const reference: StorageSource = {
        ...base('replication'),
        reference: { dev: r.refDev, index: r.refIndex },
      };
      const hidden: StorageSource = {
        ...base('file'),
        path: r.hidden,
        format: 'qcow2',
        backingStore: { kind: 'image', image: reference },
      };
      const active: StorageSource = {
        ...base('file'),
        path: r.active,
        format: 'qcow2',
        backingStore: { kind: 'image', image: hidden },
      };
      return { ...base('replication'), replication: { mode: 'secondary' }, children: [active] };
    });
  return fc.oneof(quorum, replication).map(
    (source): DiskDef => ({
      element: 'disk',
      device: 'disk',
      source,
      target: { dev, bus: 'virtio', extraAttributes: [] },
      readonly: false,
      shareable: false,
      extraElements: [],
      extraAttributes: [],
    }),
  );
}
