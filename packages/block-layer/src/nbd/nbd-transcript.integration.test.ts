import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { addBitmap } from '../bitmap/bitmap-commands.js';
import { peer } from './test-support/peers.js';
import { RawClient } from './test-support/raw-client.js';
import { type ServedImage, serveImage } from './test-support/serve.js';

let dir: string;
let served: ServedImage | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-nbd-transcript-'));
});

afterEach(async () => {
  await served?.close();
  served = null;
  await rm(dir, { recursive: true, force: true });
});

interface Step {
  from: 'C' | 'S';
  label: string;
  hex: string;
}

function steps(text: string): Step[] {
  const out: Step[] = [];
  for (const line of text.split('\n')) {
    const m = /^([CS]) (.*?)\s+([0-9a-f]+)$/.exec(line);
    if (m) out.push({ from: m[1] as 'C' | 'S', label: m[2] ?? '', hex: m[3] ?? '' });
  }
  return out;
}

it('replays QEMU 7.2’s recorded NBD session byte for byte', async () => {
  // The recorded export: a 16 MiB qcow2 with 0x55 data in its first MiB, bitmap bm0
  // (64 KiB granules), and two writes made through the export before the session.
  const image = join(dir, 'nsrc.qcow2');
  await peer('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
  await peer('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x55 0 1M', image]);
  served = await serveImage(
    dir,
    image,
    { name: 'exp', bitmaps: ['bm0'], allocationDepth: true },
    {},
    (graph) => {
      addBitmap(graph, { node: 'disk', name: 'bm0', granularity: 65536 });
    },
  );
  const exp = served.server.getExport('exp0');
  await exp?.backend.write(new Uint8Array(65536).fill(0xcc), 8 << 20);
  await exp?.backend.write(new Uint8Array(4096).fill(0xcc), (12 << 20) + 4096);

  const text = await readFile(
    fileURLToPath(new URL('../../third_party/qemu-7.2/transcripts/nbd-handshake-hex.txt', import.meta.url)),
    'utf8',
  );
  const client = await RawClient.connect(served.socket);
  try {
    for (const step of steps(text)) {
      const bytes = Buffer.from(step.hex, 'hex');
      if (step.from === 'C') {
        client.send(bytes);
        continue;
      }
      // A truncated payload line gives its full length and its first bytes.
      const truncated = /\((\d+) bytes, first (\d+)\)/.exec(step.label);
      const length = truncated ? Number(truncated[1]) : bytes.length;
      const got = await client.next((r) => (r.available >= length ? r.take(length) : null));
      expect(got, step.label).not.toBeNull();
      const compared = Buffer.from(got ?? new Uint8Array(0)).subarray(0, bytes.length);
      expect(compared.toString('hex'), step.label).toBe(step.hex);
    }
    await client.closed;
  } finally {
    client.destroy();
  }
});
