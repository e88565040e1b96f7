import type { SnapshotMode, StorageSource } from '../disk/types.js';
import type { DomainDef } from '../domain/types.js';
import type { XmlElement } from '../xml/tree.js';

/** Domain states a snapshot records (`<state>`). */
export const SNAPSHOT_STATES = [
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
  'disk-snapshot',
] as const;
/** The state of the domain when the snapshot was taken. */
export type SnapshotState = (typeof SNAPSHOT_STATES)[number];

/** `<memory snapshot= file=>`: where the guest memory went. */
export interface SnapshotMemory {
  snapshot: 'no' | 'internal' | 'external';
  /** Absolute path of the memory image (external only). */
  file?: string;
}

/** One `<disk>` of `<disks>`. */
export interface SnapshotDiskDef {
  /** Target name (`vda`) or source path of the domain disk. */
  name: string;
  snapshot?: SnapshotMode;
  /**
   * The new image: its type, format (`<driver type>`), metadata cache and `<source>`. Its
   * `backingStore` is unused.
   */
  source: StorageSource;
  /** `<snapshotDeleteInProgress/>` (redefine only). */
  deleteInProgress: boolean;
  /**
   * Strata extension for live storage migration: the destination the new overlay is mirrored
   * to while the snapshot is taken (`<mirror type=><format/><source/></mirror>`).
   */
  mirror?: StorageSource;
}

/** A `<domainsnapshot>`. */
export interface SnapshotDef {
  name?: string;
  description?: string;
  state?: SnapshotState;
  /** Name of the parent snapshot. */
  parent?: string;
  /** Seconds since the epoch. */
  creationTime?: number;
  memory?: SnapshotMemory;
  disks: SnapshotDiskDef[];
  /** The embedded inactive domain definition (redefine only). */
  domain?: DomainDef;
  /** The persistent definition of a running domain (redefine only). */
  inactiveDomain?: DomainDef;
  /** `<cookie>`, carried untouched. */
  cookie?: XmlElement;
  /** `<active>` of libvirt's private metadata files. */
  active?: boolean;
}
