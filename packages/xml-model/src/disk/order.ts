/**
 * libvirt's formatters write children in a fixed order whatever the input order was. These
 * tables give that order for the elements the model carries untyped; unknown names go last,
 * keeping their relative order.
 */
export const DISK_CHILD_ORDER = [
  'driver',
  'auth',
  'source',
  'backingStore',
  'backenddomain',
  'geometry',
  'blockio',
  'mirror',
  'target',
  'iotune',
  'readonly',
  'shareable',
  'transient',
  'serial',
  'wwn',
  'vendor',
  'product',
  'encryption',
  'boot',
  'alias',
  'master',
  'acpi',
  'rom',
  'address',
  'privateData',
  'diskSecretsPlacement',
] as const;

/**
 * Order of `<source>` children: the type's own children first (network hosts and options, the
 * NVMe PCI address), then slices, seclabels, auth, encryption, reservations, private data.
 */
export const SOURCE_CHILD_ORDER = [
  'host',
  'identity',
  'reconnect',
  'snapshot',
  'config',
  'initiator',
  'ssl',
  'cookies',
  'readahead',
  'timeout',
  'knownHosts',
  'address',
  'slices',
  'seclabel',
  'auth',
  'encryption',
  'reservations',
  'dataStore',
  'privateData',
] as const;

/** Order of `<source>` attributes per storage type (`startupPolicy` and `index` follow). */
export const SOURCE_ATTRIBUTE_ORDER: Record<string, readonly string[]> = {
  file: ['file', 'fdgroup'],
  block: ['dev'],
  dir: ['dir'],
  network: ['protocol', 'name', 'query', 'tls', 'tlsHostname', 'tlsFromConfig'],
  volume: ['pool', 'volume', 'mode', 'actualType'],
  nvme: ['type', 'managed', 'namespace'],
  vhostuser: ['type', 'path'],
  quorum: ['threshold', 'readPattern'],
  replication: ['mode'],
};

/** Order of `<driver>` attributes (`type` is written from the image format). */
export const DRIVER_ATTRIBUTE_ORDER = [
  'name',
  'type',
  'cache',
  'error_policy',
  'rerror_policy',
  'io',
  'ioeventfd',
  'event_idx',
  'copy_on_read',
  'discard',
  'iothread',
  'detect_zeroes',
  'discard_no_unref',
  'queues',
  'queue_size',
  'iommu',
  'ats',
  'packed',
  'page_per_vq',
] as const;

/** Order of `<target>` attributes after `dev` and `bus`. */
export const TARGET_ATTRIBUTE_ORDER = ['tray', 'removable', 'rotation_rate'] as const;

/** Stable sort of elements by a name order; unknown names keep their order after known ones. */
export function sortByOrder<T extends { readonly name: string }>(
  elements: readonly T[],
  order: readonly string[],
): T[] {
  const rank = (name: string): number => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  return elements
    .map((el, i) => ({ el, i }))
    .sort((a, b) => rank(a.el.name) - rank(b.el.name) || a.i - b.i)
    .map(({ el }) => el);
}

/** Stable sort of attributes by a name order; unknown names keep their order after known ones. */
export function sortAttributes<T extends readonly [string, string]>(
  attributes: readonly T[],
  order: readonly string[],
): T[] {
  const rank = (name: string): number => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  return attributes
    .map((a, i) => ({ a, i }))
    .sort((x, y) => rank(x.a[0]) - rank(y.a[0]) || x.i - y.i)
    .map(({ a }) => a);
}
