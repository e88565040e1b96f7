import { sizeToString } from './human-size.js';
import type { QemuJsonObject } from './qemu-json.js';

/** The header and rows QEMU prints for a list of internal snapshots (info and snapshot -l). */
export function formatSnapshotTable(snapshots: readonly QemuJsonObject[]): string {
  let text = `${'ID'.padEnd(10)}${'TAG'.padEnd(17)}${'VM SIZE'.padStart(8)}${'DATE'.padStart(20)}${'VM CLOCK'.padStart(13)}${'ICOUNT'.padStart(11)}\n`;
  for (const sn of snapshots) text += `${formatSnapshotRow(sn)}\n`;
  return text;
}

function formatSnapshotRow(sn: QemuJsonObject): string {
  const id = String(sn.id ?? '');
  const name = String(sn.name ?? '');
  const vmStateSize = Number(sn['vm-state-size'] ?? 0);
  const date = new Date(Number(sn['date-sec'] ?? 0) * 1000);
  const dateText = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  const clockNs = Number(sn['vm-clock-sec'] ?? 0) * 1e9 + Number(sn['vm-clock-nsec'] ?? 0);
  const secs = Math.floor(clockNs / 1e9);
  const clock = `${two(Math.floor(secs / 3600))}:${two(Math.floor(secs / 60) % 60)}:${two(secs % 60)}.${String(Math.floor(clockNs / 1e6) % 1000).padStart(3, '0')}`;
  const icount = sn.icount === undefined ? '' : String(sn.icount);
  return `${id.padEnd(9)} ${name.padEnd(16)} ${sizeToString(vmStateSize).padStart(8)}${dateText.padStart(20)}${clock.padStart(13)}${icount.padStart(11)}`;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}
