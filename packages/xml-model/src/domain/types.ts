import type { DiskDef } from '../disk/types.js';
import type { XmlAttribute, XmlElement } from '../xml/tree.js';

/** An amount of memory, kept in KiB as libvirt writes it. */
export interface MemoryAmount {
  kib: number;
  /** Attributes other than `unit` (e.g. `dumpCore`), in order. */
  extraAttributes: XmlAttribute[];
}

/** `<vcpu>`: the count and its attributes (`placement`, `cpuset`, `current`). */
export interface VcpuDef {
  count: number;
  placement: string;
  extraAttributes: XmlAttribute[];
}

/** `<os>`: the guest type with its `arch`/`machine`, and the rest carried untouched. */
export interface OsDef {
  type: string;
  typeAttributes: XmlAttribute[];
  /** Every child other than `<type>` (`boot`, `loader`, `kernel`, ...), in order. */
  extraElements: XmlElement[];
  /** Attributes of `<os>` itself (e.g. `firmware`). */
  attributes: XmlAttribute[];
}

/** One child of `<devices>`: a typed disk or any other device carried untouched. */
export type DeviceEntry =
  | { readonly kind: 'disk'; disk: DiskDef }
  | { readonly kind: 'other'; element: XmlElement };

/**
 * One child of `<domain>` in document order: a typed part (its value lives in the named field
 * of {@link DomainDef}) or an element the model carries untouched.
 */
export type DomainEntry =
  | { readonly kind: 'typed'; readonly name: TypedDomainChild }
  | { readonly kind: 'other'; readonly element: XmlElement };

/** Children of `<domain>` the model types. */
export type TypedDomainChild =
  | 'name'
  | 'uuid'
  | 'title'
  | 'description'
  | 'memory'
  | 'currentMemory'
  | 'vcpu'
  | 'os'
  | 'devices';

/**
 * A `<domain>`: the parts a storage manager needs are typed, every other element is kept in
 * place and order so nothing a user wrote is lost.
 */
export interface DomainDef {
  /** Hypervisor type (`kvm`, `qemu`, ...). */
  type: string;
  /** Runtime id of a running domain (runtime forms only). */
  id?: number;
  /** Attributes of `<domain>` other than `type` and `id` (e.g. namespace declarations). */
  extraAttributes: XmlAttribute[];
  name?: string;
  uuid?: string;
  title?: string;
  description?: string;
  memory?: MemoryAmount;
  currentMemory?: MemoryAmount;
  vcpu?: VcpuDef;
  os?: OsDef;
  /** The devices, disks typed; `undefined` when the domain has no `<devices>`. */
  devices?: DeviceEntry[];
  /** Document order of the children. Typed parts missing here are placed where libvirt puts them. */
  entries: DomainEntry[];
}
