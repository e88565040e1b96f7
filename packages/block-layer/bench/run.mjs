// Throughput of the block layer's live jobs against `cp` of the same bytes, in one run.
// Usage: pnpm --filter @strata/block-layer run build && node packages/block-layer/bench/run.mjs
// STRATA_BENCH_SIZE (MiB, default 256): data written into the image each job copies.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostFile } from '@strata/image-format';
import {
  BlockGraph,
  JobManager,
  addFileNode,
  addQcow2Node,
  blockCommit,
  blockStream,
  blockdevBackup,
  blockdevMirror,
  qcow2Opener,
} from '../dist/index.js';

const MIB = 1 << 20;
const dataMiB = Number(process.env.STRATA_BENCH_SIZE ?? 256);
const size = dataMiB * 2 * MIB; // half of the disk holds data
const dir = mkdtempSync(join(tmpdir(), 'strata-block-bench-'));

function run(tool, args) {
  return execFileSync(tool, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
}

function qcow2(name, backing) {
  const path = join(dir, name);
  const args = ['create', '-q', '-f', 'qcow2'];
  if (backing) args.push('-b', backing, '-F', 'qcow2');
  args.push(path, String(size));
  run('qemu-img', args);
  return path;
}

/** Writes data into the first half of the disk. */
function fill(path) {
  run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a 0 ${dataMiB}M`, path]);
}

async function open(graph, name, path, readOnly, backing) {
  const file = await addFileNode(graph, {
    file: await HostFile.open(path, { readOnly }),
    monitorOwned: false,
  });
  return addQcow2Node(graph, { nodeName: name, file, readOnly, backing, opener: qcow2Opener });
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function check(path) {
  run('qemu-img', ['check', '-q', path]);
}

const results = [];

// Baseline: cp of a file holding the same bytes.
{
  const src = join(dir, 'data.bin');
  run('dd', ['if=/dev/urandom', `of=${src}`, 'bs=1M', `count=${dataMiB}`, 'status=none']);
  const seconds = await timed(async () => run('cp', [src, join(dir, 'data.copy')]));
  results.push(['cp of the same bytes', seconds]);
  rmSync(src);
  rmSync(join(dir, 'data.copy'));
}

// mirror sync=full to a fresh qcow2, to READY and complete.
{
  const src = qcow2('m-src.qcow2');
  fill(src);
  const dst = qcow2('m-dst.qcow2');
  const graph = new BlockGraph();
  const jobs = new JobManager();
  await open(graph, 'src', src, false, null);
  await open(graph, 'dst', dst, false, null);
  const seconds = await timed(async () => {
    const job = await blockdevMirror(graph, jobs, {
      'job-id': 'm',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await job.until((j) => j.status === 'ready');
    job.complete();
    await job.until((j) => j.status === 'null');
  });
  await graph.closeAll();
  check(dst);
  results.push(['mirror sync=full (READY + complete)', seconds]);
}

// active commit of a top layer holding the data, to READY.
{
  const base = qcow2('c-base.qcow2');
  const top = qcow2('c-top.qcow2', 'c-base.qcow2');
  fill(top);
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const baseNode = await open(graph, 'base', base, true, null);
  await open(graph, 'top', top, false, baseNode);
  let job;
  const seconds = await timed(async () => {
    job = await blockCommit(graph, jobs, { 'job-id': 'c', device: 'top' });
    await job.until((j) => j.status === 'ready');
  });
  job.complete();
  await job.until((j) => j.status === 'null');
  await graph.closeAll();
  check(base);
  results.push(['active commit to READY', seconds]);
}

// stream the whole chain into the top layer.
{
  const base = qcow2('s-base.qcow2');
  fill(base);
  const top = qcow2('s-top.qcow2', 's-base.qcow2');
  const graph = new BlockGraph();
  const jobs = new JobManager();
  const baseNode = await open(graph, 'base', base, true, null);
  await open(graph, 'top', top, false, baseNode);
  const seconds = await timed(async () => {
    const job = await blockStream(graph, jobs, { 'job-id': 's', device: 'top' });
    await job.until((j) => j.status === 'null');
  });
  await graph.closeAll();
  check(top);
  results.push(['stream (whole chain into top)', seconds]);
}

// backup sync=full to a fresh qcow2.
{
  const src = qcow2('b-src.qcow2');
  fill(src);
  const dst = qcow2('b-dst.qcow2');
  const graph = new BlockGraph();
  const jobs = new JobManager();
  await open(graph, 'src', src, false, null);
  await open(graph, 'dst', dst, false, null);
  const seconds = await timed(async () => {
    const job = await blockdevBackup(graph, jobs, {
      'job-id': 'b',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await job.until((j) => j.status === 'null');
  });
  await graph.closeAll();
  check(dst);
  results.push(['backup sync=full', seconds]);
}

const cp = results[0][1];
console.log(`Data copied per workload: ${dataMiB} MiB (disk ${2 * dataMiB} MiB, half allocated)`);
console.log(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; Node ${process.version}`);
console.log('');
console.log('| workload | seconds | MiB/s | time / cp |');
console.log('|---|---:|---:|---:|');
for (const [name, seconds] of results) {
  console.log(
    `| ${name} | ${seconds.toFixed(3)} | ${(dataMiB / seconds).toFixed(0)} | ${(seconds / cp).toFixed(2)}× |`,
  );
}

rmSync(dir, { recursive: true, force: true });
