#!/usr/bin/env node
// Runs strata-img and qemu-img on the same workloads in one run and prints a markdown table
// with the time of each and their ratio. Build the package first. Sizes: STRATA_BENCH_SIZE
// (default 4G; the source image is half allocated), STRATA_BENCH_COMMIT (default 1G of data
// in the committed overlay), STRATA_BENCH_INFO_RUNS (default 50).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, totalmem, tmpdir, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const strataImg = join(here, '..', 'bin', 'strata-img.js');

function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)([kKmMgGtT]?)$/.exec(text);
  if (!match) throw new Error(`bad size ${text}`);
  const shift = { '': 0, k: 10, m: 20, g: 30, t: 40 }[match[2].toLowerCase()];
  return Math.floor(Number(match[1]) * 2 ** shift);
}

const size = parseSize(process.env.STRATA_BENCH_SIZE ?? '4G');
const commitBytes = Math.min(parseSize(process.env.STRATA_BENCH_COMMIT ?? '1G'), size);
const infoRuns = Number(process.env.STRATA_BENCH_INFO_RUNS ?? '50');
const MiB = 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), 'strata-img-bench-'));

function sh(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: work, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** qemu-io writes in batches so command lines stay short. */
function writeExtents(file, extents) {
  for (let i = 0; i < extents.length; i += 64) {
    const args = ['-f', 'qcow2'];
    for (const [offset, length, pattern] of extents.slice(i, i + 64)) {
      args.push('-c', `write -P ${pattern} ${offset} ${length}`);
    }
    sh('qemu-io', [...args, file]);
  }
}

/** Every other 64 MiB (at most `length` bytes each). */
function halfAllocated(total, step = 64 * MiB) {
  const extents = [];
  for (let offset = 0; offset < total; offset += 2 * step) {
    extents.push([offset, Math.min(step, total - offset), ((offset / step) % 250) + 1]);
  }
  return extents;
}

function time(cmd, args) {
  const start = process.hrtime.bigint();
  sh(cmd, args);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const tools = {
  qemu: (args) => time('qemu-img', args),
  strata: (args) => time(process.execPath, [strataImg, ...args]),
};

const rows = [];
function record(name, qemu, strata) {
  rows.push({ name, qemu, strata });
}

try {
  // Source images.
  sh('qemu-img', ['create', '-q', '-f', 'qcow2', 'src.qcow2', String(size)]);
  writeExtents('src.qcow2', halfAllocated(size));
  sh('qemu-img', ['convert', '-O', 'raw', 'src.qcow2', 'src.raw']);

  // 1. qcow2 -> raw, 2. raw -> qcow2.
  const perTool = {};
  for (const [tool, run] of Object.entries(tools)) {
    perTool[tool] = {
      toRaw: run(['convert', '-f', 'qcow2', '-O', 'raw', 'src.qcow2', `${tool}.raw`]),
      toQcow2: run(['convert', '-f', 'raw', '-O', 'qcow2', 'src.raw', `${tool}.qcow2`]),
    };
    sh('qemu-img', ['compare', 'src.qcow2', `${tool}.raw`]);
    sh('qemu-img', ['compare', 'src.raw', `${tool}.qcow2`]);
    rmSync(join(work, `${tool}.raw`));
    rmSync(join(work, `${tool}.qcow2`));
  }
  record(`convert qcow2 → raw (${size / MiB} MiB, half allocated)`, perTool.qemu.toRaw, perTool.strata.toRaw);
  record(
    `convert raw → qcow2 (${size / MiB} MiB, half allocated)`,
    perTool.qemu.toQcow2,
    perTool.strata.toQcow2,
  );
  rmSync(join(work, 'src.raw'));

  // 3. A three-deep chain flattened by convert.
  sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'src.qcow2', '-F', 'qcow2', 'mid.qcow2']);
  writeExtents(
    'mid.qcow2',
    halfAllocated(size, 16 * MiB)
      .map(([o, l]) => [o + 8 * MiB, Math.min(l, size - o - 8 * MiB), 7])
      .filter(([, l]) => l > 0),
  );
  sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2']);
  writeExtents(
    'top.qcow2',
    halfAllocated(size, 4 * MiB).map(([o, l]) => [o, l, 9]),
  );
  const flatten = {};
  for (const [tool, run] of Object.entries(tools)) {
    flatten[tool] = run(['convert', '-O', 'qcow2', 'top.qcow2', `${tool}-flat.qcow2`]);
    sh('qemu-img', ['compare', 'top.qcow2', `${tool}-flat.qcow2`]);
    rmSync(join(work, `${tool}-flat.qcow2`));
  }
  record('convert: flatten a 3-deep chain to qcow2', flatten.qemu, flatten.strata);
  for (const f of ['top.qcow2', 'mid.qcow2', 'src.qcow2']) rmSync(join(work, f));

  // 4. Commit of an overlay holding `commitBytes` of data.
  sh('qemu-img', ['create', '-q', '-f', 'qcow2', 'cbase.qcow2', String(size)]);
  sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'cbase.qcow2', '-F', 'qcow2', 'ctop.qcow2']);
  writeExtents(
    'ctop.qcow2',
    halfAllocated(commitBytes * 2, 32 * MiB).map(([o, l]) => [o, l, 3]),
  );
  const commit = {};
  for (const [tool, run] of Object.entries(tools)) {
    copyFileSync(join(work, 'cbase.qcow2'), join(work, `${tool}-base.qcow2`));
    sh('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      `${tool}-base.qcow2`,
      '-F',
      'qcow2',
      `${tool}-top.qcow2`,
    ]);
    copyFileSync(join(work, 'ctop.qcow2'), join(work, `${tool}-top.qcow2`));
    sh('qemu-img', [
      'rebase',
      '-u',
      '-f',
      'qcow2',
      '-b',
      `${tool}-base.qcow2`,
      '-F',
      'qcow2',
      `${tool}-top.qcow2`,
    ]);
    commit[tool] = run(['commit', '-f', 'qcow2', '-d', `${tool}-top.qcow2`]);
  }
  sh('qemu-img', ['compare', 'qemu-base.qcow2', 'strata-base.qcow2']);
  record(`commit -d of an overlay with ${commitBytes / MiB} MiB of data`, commit.qemu, commit.strata);
  for (const f of [
    'cbase.qcow2',
    'ctop.qcow2',
    'qemu-base.qcow2',
    'strata-base.qcow2',
    'qemu-top.qcow2',
    'strata-top.qcow2',
  ]) {
    rmSync(join(work, f));
  }

  // 5. info latency on a small image.
  sh('qemu-img', ['create', '-q', '-f', 'qcow2', 'small.qcow2', '64M']);
  const info = {};
  for (const [tool, run] of Object.entries(tools)) {
    run(['info', 'small.qcow2']); // warm caches (and Node's compile cache)
    let total = 0;
    for (let i = 0; i < infoRuns; i++) total += run(['info', 'small.qcow2']);
    info[tool] = total / infoRuns;
  }
  record(`info latency (mean of ${infoRuns} runs)`, info.qemu, info.strata);
} finally {
  rmSync(work, { recursive: true, force: true });
}

const qemuVersion = execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }).split('\n')[0];
const cpu = cpus();
console.log(
  `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}`,
);
console.log(`Node ${process.version}; ${qemuVersion}`);
console.log('');
console.log('| workload | qemu-img (s) | strata-img (s) | strata / qemu |');
console.log('|---|---:|---:|---:|');
for (const row of rows) {
  const fmt = (s) => (s < 1 ? s.toFixed(3) : s.toFixed(2));
  console.log(
    `| ${row.name} | ${fmt(row.qemu)} | ${fmt(row.strata)} | ${(row.strata / row.qemu).toFixed(2)}× |`,
  );
}
