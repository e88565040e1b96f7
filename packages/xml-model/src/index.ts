/**
 * @strata/xml-model: libvirt's `<domain>` and `<domainsnapshot>` XML, and Strata's replication
 * and quorum disks, as plain typed objects — parsed, validated and formatted byte for byte the
 * way libvirt writes them.
 */

export { XmlModelError } from './errors.js';
export type { LibvirtErrorCode, XmlLocation, XmlModelErrorCode, XmlModelErrorOptions } from './errors.js';
export type { XmlMode } from './mode.js';
export type { FormatOptions, ParseOptions } from './options.js';
export { DEFAULT_XML_LIMITS } from './xml/limits.js';
export type { XmlLimits } from './xml/limits.js';
export type { XmlAttribute, XmlElement, XmlNode, XmlText } from './xml/tree.js';
export { readXml } from './xml/read.js';

export {
  DISK_DEVICES,
  IMAGE_FORMATS,
  LIBVIRT_STORAGE_TYPES,
  NETWORK_PROTOCOLS,
  SNAPSHOT_MODES,
  STORAGE_TYPES,
  emptySource,
} from './disk/types.js';
export type {
  BackingStore,
  ChainReference,
  DiskDef,
  DiskDevice,
  DiskDriver,
  DiskSource,
  DiskTarget,
  ImageFormat,
  MirrorDef,
  MirrorJob,
  MirrorReady,
  NetworkHost,
  NetworkProtocol,
  QuorumParams,
  ReplicationParams,
  SnapshotMode,
  StorageSlice,
  StorageSource,
  StorageType,
} from './disk/types.js';
export type { BootOrder, DeviceAddress } from './disk/device-info.js';
export { formatDiskXml, parseDiskXml } from './disk/disk-xml.js';
export type { DiskParseOptions } from './disk/disk-xml.js';
export { applyQemuDiskDefaults } from './disk/qemu-defaults.js';
export { chainElements, lookupChainElement } from './disk/chain.js';

export type {
  DeviceEntry,
  DomainDef,
  DomainEntry,
  MemoryAmount,
  OsDef,
  TypedDomainChild,
  VcpuDef,
} from './domain/types.js';
export { domainDisks } from './domain/disks.js';
export { formatDomainXml, parseDomainXml } from './domain/domain-xml.js';
export { formatDomainStatusXml, parseDomainStatusXml } from './domain/status.js';
export type { DomainStatusDef } from './domain/status.js';

export { SNAPSHOT_STATES } from './snapshot/types.js';
export type { SnapshotDef, SnapshotDiskDef, SnapshotMemory, SnapshotState } from './snapshot/types.js';
export { alignSnapshotDisks } from './snapshot/align.js';
export type { AlignOptions } from './snapshot/align.js';
export { formatSnapshotXml, parseSnapshotXml } from './snapshot/snapshot-xml.js';
export type { SnapshotFormatOptions, SnapshotParseOptions } from './snapshot/snapshot-xml.js';

export { validateDomain, validateSnapshot } from './validate/semantic.js';
export { schemaFiles, validateWithSchema } from './schema/xmllint.js';
export type { SchemaKind, SchemaResult, SchemaValidationOptions } from './schema/xmllint.js';
