import { cFixed } from '../format/c-fixed.js';
import { ioAmount } from '../format/human-size.js';

/** qemu-io's elapsed-time text: `00.00 sec` under a second, `H:MM:SS.ss` from one second on. */
export function elapsedText(seconds: number): string {
  const whole = Math.floor(seconds);
  if (whole === 0) return `${cFixed(seconds, 2).padStart(5, '0')} sec`;
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor(whole / 60) % 60;
  const secs = (whole % 60) + (seconds - whole);
  return `${hours}:${String(minutes).padStart(2, '0')}:${cFixed(secs, 2).padStart(5, '0')}`;
}

/**
 * The two lines qemu-io prints after a request: what was done, then size, operation count,
 * elapsed time and rates (`4 KiB, 1 ops; 00.00 sec (842.738 KiB/sec and 210.6844 ops/sec)`).
 */
export function requestReport(op: string, offset: number, count: number, seconds: number, ops = 1): string {
  const t = Math.max(seconds, 1e-9);
  return (
    `${op} ${count}/${count} bytes at offset ${offset}\n` +
    `${ioAmount(count)}, ${ops} ops; ${elapsedText(seconds)} (${ioAmount(count / t)}/sec and ${cFixed(ops / t, 4)} ops/sec)\n`
  );
}

/** qemu-io's `-v` hex dump: 16 bytes a line, offset, hex bytes, then letters and digits. */
export function hexDump(buf: Uint8Array, offset: number): string {
  let text = '';
  for (let i = 0; i < buf.length; i += 16) {
    const line = buf.subarray(i, Math.min(buf.length, i + 16));
    text += `${(offset + i).toString(16).padStart(8, '0')}:  `;
    for (const b of line) text += `${b.toString(16).padStart(2, '0')} `;
    text += ' ';
    for (const b of line) text += isAlnum(b) ? String.fromCharCode(b) : '.';
    text += '\n';
  }
  return text;
}

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/** One line of qemu-io's `map`: a run of allocated or unallocated bytes. */
export function mapLine(offset: number, length: number, allocated: boolean): string {
  return `${ioAmount(length)} (0x${length.toString(16)}) bytes ${allocated ? '   ' : 'not'} allocated at offset ${ioAmount(offset)} (0x${offset.toString(16)})\n`;
}
