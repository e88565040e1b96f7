/**
 * Which of libvirt's three XML forms a document is read or written as.
 *
 * - `inactive`: the persistent configuration. Output-only data (`index` attributes, `<mirror>`,
 *   domain `id`, non-user aliases) is ignored on input and never written.
 * - `live`: the running domain as `virsh dumpxml` shows it, with indexes and mirrors.
 * - `status`: libvirt's private status form, which adds `<privateData>` to sources and disks.
 */
export type XmlMode = 'inactive' | 'live' | 'status';

/** True when the mode carries runtime-only data (indexes, mirrors). */
export function isRuntimeMode(mode: XmlMode): boolean {
  return mode !== 'inactive';
}
