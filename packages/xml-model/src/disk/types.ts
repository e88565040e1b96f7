import type { XmlAttribute, XmlElement } from '../xml/tree.js';
import type { BootOrder, DeviceAddress } from './device-info.js';

/** Storage types libvirt knows for a disk or image, plus Strata's replication and quorum nodes. */
export const STORAGE_TYPES = [
  'file',
  'block',
  'dir',
  'network',
  'volume',
  'nvme',
  'vhostuser',
  'quorum',
  'replication',
] as const;
/** Where an image's bytes live (libvirt's `type` attribute on `<disk>`, `<backingStore>`, `<mirror>`). */
export type StorageType = (typeof STORAGE_TYPES)[number];

/** Storage types upstream libvirt 9.0 accepts (the rest are Strata's extension). */
export const LIBVIRT_STORAGE_TYPES: readonly StorageType[] = [
  'file',
  'block',
  'dir',
  'network',
  'volume',
  'nvme',
  'vhostuser',
];

/**
 * Network protocols libvirt 9.0's domain schema accepts in `<source protocol=>` (its parser also
 * knows `ssh`, which the schema refuses; Strata refuses it too).
 */
export const NETWORK_PROTOCOLS = [
  'nbd',
  'rbd',
  'sheepdog',
  'gluster',
  'iscsi',
  'http',
  'https',
  'ftp',
  'ftps',
  'tftp',
  'vxhs',
  'nfs',
] as const;
/** A network storage protocol. */
export type NetworkProtocol = (typeof NETWORK_PROTOCOLS)[number];

/** Image formats libvirt 9.0 accepts in `<driver type=>` and `<format type=>`. */
export const IMAGE_FORMATS = [
  'raw',
  'dir',
  'bochs',
  'cloop',
  'dmg',
  'iso',
  'vpc',
  'vdi',
  'fat',
  'vhd',
  'ploop',
  'cow',
  'qcow',
  'qcow2',
  'qed',
  'vmdk',
  'luks',
] as const;
/** An image format. Formats are always explicit: Strata never probes them. */
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** One `<host>` of a network source: TCP name/port or a UNIX socket. */
export interface NetworkHost {
  name?: string;
  port?: string;
  transport?: 'tcp' | 'unix' | 'rdma';
  socket?: string;
}

/** `<slices><slice type='storage' offset size/></slices>`: a byte range of the storage. */
export interface StorageSlice {
  offset: number;
  size: number;
}

/** Parameters of a Strata quorum node (`<source threshold= readPattern=>`). */
export interface QuorumParams {
  /** Votes needed for a read to be accepted (QEMU's vote-threshold). */
  threshold: number;
  /** How reads are served: `quorum` (vote) or `fifo` (first child that answers). */
  readPattern?: 'quorum' | 'fifo';
}

/** Parameters of a Strata replication node (`<source mode=>`). */
export interface ReplicationParams {
  /** Primary side (forwards writes to the secondary) or secondary side (buffers them). */
  mode: 'primary' | 'secondary';
}

/** `<reference dev= index=>`: this chain element is another disk's chain element. */
export interface ChainReference {
  /** Target (or, for a disk the guest does not see, name) of the disk that owns the element. */
  dev: string;
  /** That element's `index`. */
  index: number;
}

/**
 * One image (or filter node) of a disk: the top image of a `<disk>`, a `<backingStore>` member,
 * or a `<mirror>` destination. Mirrors libvirt's virStorageSource.
 */
export interface StorageSource {
  type: StorageType;
  /** file= / dev= / dir= path, or the network `name=` (volume or export name). */
  path?: string;
  /** Network protocol. */
  protocol?: NetworkProtocol;
  /** Network `tls=` (yes/no). */
  tls?: 'yes' | 'no';
  /** Hosts of a network source, in order. */
  hosts: NetworkHost[];
  /** Storage pool and volume of a `type='volume'` source, and its `mode=`. */
  pool?: string;
  volume?: string;
  volumeMode?: string;
  /** NVMe source attributes (`type`, `managed`, `namespace`), kept in order. */
  nvmeAttributes?: XmlAttribute[];
  /** Image format; for the top image this is `<driver type=>`, for others `<format type=>`. */
  format?: ImageFormat;
  /** qcow2 metadata cache bound in bytes (`<metadata_cache><max_size>`). */
  metadataCacheMaxSize?: number;
  /** Stable number of the image inside a running domain (`vda[N]`); runtime forms only. */
  index?: number;
  /** `startupPolicy=` (disk sources only). */
  startupPolicy?: 'mandatory' | 'requisite' | 'optional';
  /** `fdgroup=`: the image is opened through file descriptors passed to libvirt. */
  fdgroup?: string;
  /** Slices of the storage. */
  slices: StorageSlice[];
  /** Attributes of `<source>` the model does not type (kept in order, written after the typed ones). */
  extraAttributes: XmlAttribute[];
  /** Child elements of `<source>` the model carries without typing (seclabel, auth, encryption, ...). */
  extraElements: XmlElement[];
  /** The next image below this one. */
  backingStore: BackingStore;
  /** Quorum parameters (type `quorum`). */
  quorum?: QuorumParams;
  /** Replication parameters (type `replication`, node form). */
  replication?: ReplicationParams;
  /** Children of a quorum or replication node, each written as a `<backingStore>`. */
  children?: StorageSource[];
  /** Reference form of `<backingStore type='replication'>`. */
  reference?: ChainReference;
}

/**
 * libvirt's three meanings of `<backingStore>`: absent (`unknown`: the chain is not known and
 * would be read from the image header), `<backingStore/>` (`end`: the image has no backing),
 * or a typed element (`image`: the next image, given explicitly).
 */
export type BackingStore =
  | { readonly kind: 'unknown' }
  | { readonly kind: 'end' }
  | { readonly kind: 'image'; readonly image: StorageSource };

/** Block job a `<mirror>` belongs to. */
export type MirrorJob = 'copy' | 'active-commit';
/** Phase of a two-phase job: absent while copying, then `yes`, then `abort`/`pivot` when asked. */
export type MirrorReady = 'yes' | 'abort' | 'pivot';

/** `<mirror>` of a running block copy or active commit (runtime forms only). */
export interface MirrorDef {
  job: MirrorJob;
  ready?: MirrorReady;
  /** The destination (copy) or the base image (active commit). */
  source: StorageSource;
}

/** `<driver>` of a disk (the top image's format lives in `source.format`). */
export interface DiskDriver {
  /** Attributes in libvirt's order (`name`, `cache`, `io`, `discard`, `detect_zeroes`, ...), minus `type`. */
  attributes: XmlAttribute[];
}

/** `<target dev= bus= ...>`. */
export interface DiskTarget {
  dev: string;
  bus?: string;
  /** Further attributes (`tray`, `removable`, `rotation_rate`), kept in libvirt's order. */
  extraAttributes: XmlAttribute[];
}

/** Device kinds of a disk. */
export const DISK_DEVICES = ['disk', 'cdrom', 'floppy', 'lun'] as const;
/** The guest-visible device kind. */
export type DiskDevice = (typeof DISK_DEVICES)[number];

/** Values of the `snapshot=` attribute. */
export const SNAPSHOT_MODES = ['no', 'internal', 'external', 'manual'] as const;
/** How a disk takes part in snapshots. */
export type SnapshotMode = (typeof SNAPSHOT_MODES)[number];

/**
 * A `<disk>` element, or Strata's `<replicationDisk>` (a disk the guest does not see; it has a
 * `name` instead of a `<target>`).
 */
export interface DiskDef {
  /** `disk` for a guest-visible disk, `replicationDisk` for one the guest does not see. */
  element: 'disk' | 'replicationDisk';
  /** Name of a `<replicationDisk>`, used by `<reference dev=>`. */
  name?: string;
  /** Guest device kind; libvirt defaults it to `disk` and always writes it. */
  device: DiskDevice;
  model?: string;
  rawio?: string;
  sgio?: string;
  snapshot?: SnapshotMode;
  driver?: DiskDriver;
  /** The top image (or quorum / replication node). */
  source: StorageSource;
  mirror?: MirrorDef;
  target?: DiskTarget;
  readonly: boolean;
  shareable: boolean;
  /** `<serial>`: the serial number the guest sees. */
  serial?: string;
  /** `<alias name=>`; only user aliases (`ua-`) survive an inactive parse. */
  alias?: string;
  /** `<boot order=>`. */
  boot?: BootOrder;
  /** `<address>` of the guest device. */
  address?: DeviceAddress;
  /**
   * Child elements the model carries without typing (`auth`, `iotune`, `transient`, `wwn`,
   * `encryption`, ...). They are written in libvirt's element order; names libvirt does not
   * know keep their relative order at the end.
   */
  extraElements: XmlElement[];
  /** Attributes of `<disk>` the model does not type, kept in order. */
  extraAttributes: XmlAttribute[];
}

/** The name the design notes use for a disk's storage description; the same as {@link StorageSource}. */
export type DiskSource = StorageSource;

/** Creates an empty source of the given type. */
export function emptySource(type: StorageType): StorageSource {
  return {
    type,
    hosts: [],
    slices: [],
    extraAttributes: [],
    extraElements: [],
    backingStore: { kind: 'unknown' },
  };
}
