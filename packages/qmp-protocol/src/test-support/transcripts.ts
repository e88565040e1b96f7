import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One client step of a recorded session and the server lines that answered it. */
export interface TranscriptStep {
  readonly client: string;
  readonly server: string[];
}

/** Path of a file under the package's third_party/qemu-7.2 directory. */
export function thirdPartyPath(relative: string): string {
  return fileURLToPath(new URL(`../../third_party/qemu-7.2/${relative}`, import.meta.url));
}

/**
 * Reads a text transcript (`C: ` client lines, `S: ` server lines without CR LF, `# ` notes).
 * Consecutive client lines form one step, sent with a newline after each.
 */
export function readTextTranscript(name: string): { greeting: string; steps: TranscriptStep[] } {
  const lines = readFileSync(thirdPartyPath(`introspection/transcripts/${name}`), 'utf8').split('\n');
  let greeting = '';
  const steps: { client: string; server: string[] }[] = [];
  let current: { client: string; server: string[] } | undefined;
  for (const line of lines) {
    if (line.startsWith('C: ')) {
      if (current === undefined || current.server.length > 0) {
        current = { client: '', server: [] };
        steps.push(current);
      }
      current.client += `${line.slice(3)}\n`;
    } else if (line.startsWith('S: ')) {
      if (current === undefined) greeting = line.slice(3);
      else current.server.push(line.slice(3));
    }
  }
  return { greeting, steps };
}

/** Decodes a Python bytes literal such as `b'{"a": 1}\r\n'` into bytes. */
export function pythonBytes(literal: string): Uint8Array {
  const body = literal.slice(2, -1);
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out.push(c.charCodeAt(0));
      continue;
    }
    const next = body[++i]!;
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34 };
    if (next === 'x') {
      out.push(Number.parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (simple[next] !== undefined) {
      out.push(simple[next]!);
    } else {
      out.push(92, next.charCodeAt(0));
    }
  }
  return Uint8Array.from(out);
}

/** Reads the byte-level transcript: `C:`/`S:` lines holding Python bytes literals. */
export function readBytesTranscript(name: string): {
  greeting: Uint8Array;
  steps: { client: Uint8Array; server: Uint8Array }[];
} {
  const lines = readFileSync(thirdPartyPath(`introspection/transcripts/${name}`), 'utf8').split('\n');
  let greeting: Uint8Array = new Uint8Array();
  const steps: { client: Uint8Array; server: Uint8Array }[] = [];
  for (const line of lines) {
    if (line.startsWith('C: ')) steps.push({ client: pythonBytes(line.slice(3)), server: new Uint8Array() });
    else if (line.startsWith('S: ')) {
      const bytes = pythonBytes(line.slice(3));
      if (steps.length === 0) greeting = bytes;
      else steps[steps.length - 1]!.server = bytes;
    }
  }
  return { greeting, steps };
}
