import { sizeToString } from './human-size.js';
import { type QemuJsonObject, type QemuJsonValue, qemuKeyOrder, toQemuJson } from './qemu-json.js';
import { formatSnapshotTable } from './snapshot-table.js';

/** What `info` knows about one image, named as in QEMU's ImageInfo. */
export interface ImageInfoRecord {
  filename: string;
  format: string;
  virtualSize: number;
  /** Bytes the file occupies on the host (-1 when unknown). */
  actualSize: number;
  clusterSize?: number;
  dirtyFlag: boolean;
  encrypted?: boolean;
  backingFilename?: string;
  fullBackingFilename?: string;
  backingFilenameFormat?: string;
  snapshots?: QemuJsonObject[];
  /** `{type, data}` as QEMU's ImageInfoSpecific. */
  formatSpecific?: { type: string; data: QemuJsonObject };
}

/** The JSON object `qemu-img info --output=json` prints for one image. */
export function infoToJsonObject(info: ImageInfoRecord): QemuJsonObject {
  return {
    filename: info.filename,
    format: info.format,
    'dirty-flag': info.dirtyFlag,
    'actual-size': info.actualSize >= 0 ? info.actualSize : undefined,
    'virtual-size': info.virtualSize,
    'cluster-size': info.clusterSize,
    encrypted: info.encrypted ? true : undefined,
    'backing-filename': info.backingFilename,
    'full-backing-filename': info.fullBackingFilename,
    'backing-filename-format': info.backingFilenameFormat,
    snapshots: info.snapshots && info.snapshots.length > 0 ? info.snapshots : undefined,
    'format-specific': info.formatSpecific,
  } as QemuJsonObject;
}

/** `qemu-img info --output=json`: one object, or an array of objects for --backing-chain. */
export function formatInfoJson(chain: ImageInfoRecord[], asChain: boolean): string {
  const objects = chain.map(infoToJsonObject);
  return `${toQemuJson(asChain ? objects : (objects[0] as QemuJsonObject))}\n`;
}

/** `qemu-img info` human output for one image. */
export function formatInfoHuman(info: ImageInfoRecord): string {
  let text = `image: ${info.filename}\n`;
  text += `file format: ${info.format}\n`;
  text += `virtual size: ${sizeToString(info.virtualSize)} (${info.virtualSize} bytes)\n`;
  text += `disk size: ${info.actualSize >= 0 ? sizeToString(info.actualSize) : 'unavailable'}\n`;
  if (info.encrypted) text += 'encrypted: yes\n';
  if (info.clusterSize !== undefined) text += `cluster_size: ${info.clusterSize}\n`;
  if (info.dirtyFlag) text += 'cleanly shut down: no\n';
  if (info.backingFilename !== undefined) {
    text += `backing file: ${info.backingFilename}`;
    if (info.fullBackingFilename !== undefined && info.fullBackingFilename !== info.backingFilename) {
      text += ` (actual path: ${info.fullBackingFilename})`;
    }
    text += '\n';
  }
  if (info.backingFilenameFormat !== undefined)
    text += `backing file format: ${info.backingFilenameFormat}\n`;
  if (info.snapshots && info.snapshots.length > 0) {
    text += 'Snapshot list:\n';
    text += formatSnapshotTable(info.snapshots);
  }
  if (info.formatSpecific) {
    text += 'Format specific information:\n';
    text += dumpValue(1, info.formatSpecific.data);
  }
  return text;
}

/** `--backing-chain` human output: each image's block, separated by a blank line. */
export function formatInfoChainHuman(chain: ImageInfoRecord[]): string {
  return chain.map(formatInfoHuman).join('\n');
}

/** QEMU's indented dump of a QAPI value (keys with '-' shown as spaces, lists as `[i]:`). */
export function dumpValue(indentation: number, value: QemuJsonValue): string {
  if (value === null || typeof value !== 'object') return `${scalar(value)}\n`;
  const pad = ' '.repeat(indentation * 4);
  let text = '';
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const composite = item !== null && typeof item === 'object';
      text += `${pad}[${i}]:${composite ? '\n' : ' '}${dumpValue(indentation + 1, item)}`;
    });
    return text;
  }
  for (const key of qemuKeyOrder(Object.keys(value).filter((k) => value[k] !== undefined))) {
    const item = value[key] as QemuJsonValue;
    const composite = item !== null && typeof item === 'object';
    text += `${pad}${key.replaceAll('-', ' ')}:${composite ? '\n' : ' '}${dumpValue(indentation + 1, item)}`;
  }
  return text;
}

function scalar(value: string | number | boolean | null): string {
  if (value === null) return 'null';
  return String(value);
}
