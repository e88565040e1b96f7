// Strata's NBD export against qemu-nbd exporting a copy of the same qcow2 image, in one run,
// with the same clients: nbdcopy for sequential read, and Strata's own NBD client (no
// libnbd) for 4 KiB random reads and writes at queue depth 1 and 16.
// Usage: pnpm --filter @strata/block-layer run build && node packages/block-layer/bench/nbd.mjs
// STRATA_BENCH_SIZE (MiB, default 256): size of the image, all of it written with data.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NbdClient } from '../dist/index.js';

const MIB = 1 << 20;
const sizeMiB = Number(process.env.STRATA_BENCH_SIZE ?? 256);
const size = sizeMiB * MIB;
const dir = mkdtempSync(join(tmpdir(), 'strata-nbd-bench-'));
const here = dirname(fileURLToPath(import.meta.url));
const RANDOM_OPS = { 1: 4000, 16: 20000 };

function run(tool, args) {
  return execFileSync(tool, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
}

async function waitForSocket(path) {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(path)) throw new Error(`no socket at ${path}`);
}

async function startStrata(image, socket) {
  const child = spawn(process.execPath, [join(here, 'nbd-serve.mjs'), image, socket], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`Strata NBD server exited with ${code}`)));
  });
  return child;
}

async function startQemuNbd(image, socket) {
  const child = spawn('qemu-nbd', ['-t', '-f', 'qcow2', '-k', socket, '-x', 'disk', image], {
    stdio: 'inherit',
  });
  await waitForSocket(socket);
  return child;
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A fixed pseudo-random sequence of 4 KiB-aligned offsets (the same for both servers). */
function offsets(count, seed) {
  const out = new Array(count);
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out[i] = (x % (size / 4096)) * 4096;
  }
  return out;
}

async function randomIo(socket, kind, depth) {
  const client = await NbdClient.connect({ server: { type: 'unix', path: socket }, exportName: 'disk' });
  const list = offsets(RANDOM_OPS[depth], depth * 7 + (kind === 'write' ? 1 : 0));
  const data = new Uint8Array(4096).fill(0xa5);
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const offset = list[next++];
      if (kind === 'read') await client.read(offset, 4096);
      else await client.write(data, offset);
    }
  };
  const seconds = await timed(() => Promise.all(Array.from({ length: depth }, worker)));
  await client.flush();
  await client.close();
  return list.length / seconds;
}

async function measure(name, start, image) {
  const socket = join(dir, `${name}.sock`);
  const server = await start(image, socket);
  const uri = `nbd+unix:///disk?socket=${socket}`;
  try {
    const results = {};
    results.seq = size / MIB / (await timed(async () => run('nbdcopy', [uri, 'null:'])));
    for (const depth of [1, 16]) results[`read${depth}`] = await randomIo(socket, 'read', depth);
    for (const depth of [1, 16]) results[`write${depth}`] = await randomIo(socket, 'write', depth);
    return results;
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
}

try {
  const base = join(dir, 'base.qcow2');
  run('qemu-img', ['create', '-q', '-f', 'qcow2', base, String(size)]);
  run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a 0 ${sizeMiB}M`, base]);
  const forStrata = join(dir, 'strata.qcow2');
  const forQemu = join(dir, 'qemu.qcow2');
  copyFileSync(base, forStrata);
  copyFileSync(base, forQemu);
  const qemu = await measure('qemu', startQemuNbd, forQemu);
  const strata = await measure('strata', startStrata, forStrata);
  run('qemu-img', ['check', '-q', forStrata]);
  const rows = [
    ['sequential read (nbdcopy → null:), MiB/s', 'seq'],
    ['4 KiB random read, QD1, IOPS', 'read1'],
    ['4 KiB random read, QD16, IOPS', 'read16'],
    ['4 KiB random write, QD1, IOPS', 'write1'],
    ['4 KiB random write, QD16, IOPS', 'write16'],
  ];
  console.log(
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}; Node ${process.version}; image ${sizeMiB} MiB qcow2, fully written\n`,
  );
  console.log('| workload | qemu-nbd | Strata | Strata / qemu-nbd |');
  console.log('|---|---:|---:|---:|');
  for (const [label, key] of rows) {
    console.log(
      `| ${label} | ${qemu[key].toFixed(0)} | ${strata[key].toFixed(0)} | ${(strata[key] / qemu[key]).toFixed(2)}× |`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
