import type { BlockDirtyInfo } from '../bitmap/dirty-bitmap.js';
import type { BlockGraph } from './graph.js';
import type { BlockNode, ImageInfo } from './node.js';

/** One `query-named-block-nodes` entry (QMP's BlockDeviceInfo), as plain data. */
export interface BlockDeviceInfo {
  iops_rd: number;
  detect_zeroes: 'off';
  image: ImageInfo;
  iops_wr: number;
  ro: boolean;
  'node-name': string;
  backing_file_depth: number;
  drv: string;
  iops: number;
  bps_wr: number;
  write_threshold: number;
  backing_file?: string;
  'dirty-bitmaps'?: BlockDirtyInfo[];
  encrypted: boolean;
  bps: number;
  bps_rd: number;
  cache: { 'no-flush': boolean; direct: boolean; writeback: boolean };
  file: string;
}

/** Describes one node the way `query-named-block-nodes` does. */
export function describeNode(node: BlockNode): BlockDeviceInfo {
  const info: BlockDeviceInfo = {
    iops_rd: 0,
    detect_zeroes: 'off',
    image: node.imageInfo(),
    iops_wr: 0,
    ro: node.readOnly,
    'node-name': node.name,
    // QEMU 7.2 reports 0 here in flat listings, even for overlays (see the stream transcript).
    backing_file_depth: 0,
    drv: node.driver,
    iops: 0,
    bps_wr: 0,
    write_threshold: 0,
    encrypted: false,
    bps: 0,
    bps_rd: 0,
    cache: { 'no-flush': false, direct: false, writeback: true },
    file: node.filename,
  };
  const backing = node.backing;
  const headerBacking = node.imageInfo()['full-backing-filename'];
  if (backing) info.backing_file = backing.filename;
  else if (headerBacking !== undefined) info.backing_file = headerBacking;
  const bitmaps = node.bitmaps.filter((b) => b.name !== null).map((b) => b.info());
  if (bitmaps.length > 0) info['dirty-bitmaps'] = bitmaps;
  return info;
}

/** `query-named-block-nodes` (flat): every node, newest first. */
export function queryNamedBlockNodes(graph: BlockGraph): BlockDeviceInfo[] {
  return graph.nodes.map(describeNode);
}
