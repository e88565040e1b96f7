import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createQcow2, openImage } from '@strata/image-format';
import type { JsonObject, QmpClient, QmpEventListener } from '@strata/qmp-protocol';
import { BLOCK, blockPattern, GuestWriter } from './guest-writer.js';
import { connectMonitor } from './monitor-connection.js';
import { ProgressBoard } from './progress.js';
import { verifyChain } from './verify.js';

const MiB = 1024 * 1024;
const DISK_SIZE = 32 * MiB;
const BLOCKS = DISK_SIZE / BLOCK;
const DAEMON_BIN = fileURLToPath(new URL('../../bin/strata-storage-daemon.js', import.meta.url));

/** What the demo found, for its summary and for the test that runs it. */
export interface DemoResult {
  guestBytes: number;
  guestWrites: number;
  blocksVerified: number;
  mismatches: number[];
  jobSeconds: Record<string, number>;
}

/**
 * The source chain: base.qcow2 (the first half written, generation 0) under top.qcow2
 * (every third block, generation 1). Returns the model of what the disk holds.
 */
async function makeSourceChain(dir: string): Promise<Map<number, number>> {
  const model = new Map<number, number>();
  const base = join(dir, 'base.qcow2');
  await createQcow2(base, { size: DISK_SIZE });
  const baseImage = await openImage(base, { format: 'qcow2' });
  for (let block = 0; block < BLOCKS / 2; block++) {
    await baseImage.write(blockPattern(0, block), block * BLOCK);
    model.set(block, 0);
  }
  await baseImage.close();
  const top = join(dir, 'top.qcow2');
  await createQcow2(top, { backingFile: 'base.qcow2', backingFormat: 'qcow2' });
  const topImage = await openImage(top, { format: 'qcow2' });
  for (let block = 0; block < BLOCKS; block += 3) {
    await topImage.write(blockPattern(1, block), block * BLOCK);
    model.set(block, 1);
  }
  await topImage.close();
  return model;
}

async function waitForFile(path: string, daemon: ChildProcess): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (daemon.exitCode !== null) throw new Error(`strata-storage-daemon exited with ${daemon.exitCode}`);
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`strata-storage-daemon did not create ${path}`);
}

/** Resolves with the BLOCK_JOB_* event of `id` named `event`; a completion with an error rejects. */
async function jobEvent(listener: QmpEventListener, id: string, event: string): Promise<JsonObject> {
  const found = await listener.next(
    (e) => e.event === event && (e.data as JsonObject)['device'] === id,
    10 * 60_000,
  );
  const data = found.data as JsonObject;
  if (data['error'] !== undefined) throw new Error(`job ${id} failed: ${String(data['error'])}`);
  return data;
}

/** Polls query-jobs into the board until `done` settles. */
async function showJobs(
  client: QmpClient,
  board: ProgressBoard,
  labels: Record<string, string>,
  done: Promise<unknown>,
) {
  let finished = false;
  void done
    .finally(() => {
      finished = true;
    })
    .catch(() => undefined);
  while (!finished) {
    const jobs = (await client.executeRaw('query-jobs')) as JsonObject[];
    for (const job of jobs) {
      const id = String(job['id']);
      board.update(
        id,
        labels[id] ?? id,
        Number(job['current-progress']),
        Number(job['total-progress']),
        String(job['status']),
      );
    }
    board.render();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Live storage migration with strata-storage-daemon: a guest writes through an NBD export
 * while one transaction snapshots its disk onto a new overlay and mirrors that overlay to
 * the destination, a backup job copies the now read-only older layers, and the mirror
 * pivots. Every acknowledged write must then be on the destination chain.
 */
export async function runLiveMigration(out: NodeJS.WriteStream = process.stdout): Promise<DemoResult> {
  const work = await mkdtemp(join(tmpdir(), 'strata-live-'));
  const source = join(work, 'source');
  const dest = join(work, 'destination');
  await mkdir(source);
  await mkdir(dest);
  const say = (text: string) => out.write(`${text}\n`);
  let daemon: ChildProcess | undefined;
  let client: QmpClient | undefined;
  try {
    say(`Source chain: base.qcow2 <- top.qcow2 (${DISK_SIZE / MiB} MiB) in ${work}`);
    const model = await makeSourceChain(source);
    const qmp = join(work, 'qmp.sock');
    const nbd = join(work, 'nbd.sock');
    daemon = spawn(
      process.execPath,
      [
        DAEMON_BIN,
        '--chardev',
        `socket,id=mon0,path=${qmp},server=on,wait=off`,
        '--monitor',
        'chardev=mon0',
        '--blockdev',
        `driver=qcow2,node-name=disk,file.driver=file,file.filename=${join(source, 'top.qcow2')}`,
        '--nbd-server',
        `addr.type=unix,addr.path=${nbd}`,
        '--export',
        'type=nbd,id=guest,node-name=disk,name=vda,writable=on',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    await waitForFile(qmp, daemon);
    await waitForFile(nbd, daemon);
    client = await connectMonitor(qmp, { commandTimeoutMs: 60_000 });
    say('strata-storage-daemon serves the disk as NBD export "vda"; the guest starts writing.');

    const writer = await GuestWriter.connect(nbd, 'vda', BLOCKS, model);
    writer.start();
    await writer.waitForWrites(100);

    // Files for the new overlay (source side) and the destination's copy of it and of the old layers.
    await createQcow2(join(source, 'snap.qcow2'), { backingFile: 'top.qcow2', backingFormat: 'qcow2' });
    await createQcow2(join(dest, 'base.qcow2'), { size: DISK_SIZE });
    await createQcow2(join(dest, 'snap.qcow2'), { backingFile: 'base.qcow2', backingFormat: 'qcow2' });
    for (const [name, path] of [
      ['snap', join(source, 'snap.qcow2')],
      ['dst-snap', join(dest, 'snap.qcow2')],
      ['dst-base', join(dest, 'base.qcow2')],
    ] as const) {
      await client.executeRaw('blockdev-add', {
        driver: 'qcow2',
        'node-name': name,
        file: { driver: 'file', filename: path },
        backing: null,
      });
    }
    const ready = client.listen({ names: ['BLOCK_JOB_READY'] });
    const completed = client.listen({ names: ['BLOCK_JOB_COMPLETED'] });
    const copied = client.listen({ names: ['BLOCK_JOB_COMPLETED'] });
    const started = performance.now();
    say('One transaction: snapshot "disk" onto snap.qcow2 and mirror snap.qcow2 to the destination.');
    await client.executeRaw('transaction', {
      actions: [
        { type: 'blockdev-snapshot', data: { node: 'disk', overlay: 'snap' } },
        {
          type: 'blockdev-mirror',
          data: { 'job-id': 'mirror', device: 'snap', target: 'dst-snap', sync: 'top' },
        },
      ],
    });
    say('The older layers are read-only now: a backup job copies them (flattened) to the destination.');
    const backupStarted = performance.now();
    await client.executeRaw('blockdev-backup', {
      'job-id': 'copy-base',
      device: 'disk',
      target: 'dst-base',
      sync: 'full',
    });
    const jobSeconds: Record<string, number> = {};
    const board = new ProgressBoard(out);
    const labels = { mirror: 'mirror snap.qcow2', 'copy-base': 'copy older layers' };
    const bothDone = Promise.all([
      jobEvent(copied, 'copy-base', 'BLOCK_JOB_COMPLETED').then((data) => {
        jobSeconds['copy-base'] = (performance.now() - backupStarted) / 1000;
        // The job is gone from query-jobs once it concludes: its last row comes from the event.
        const len = Number(data['len']);
        board.update('copy-base', labels['copy-base'], Number(data['offset']), len, 'concluded');
      }),
      jobEvent(ready, 'mirror', 'BLOCK_JOB_READY').then((data) => {
        // The poll may not see READY before the loop ends: the event carries the same figures.
        board.update('mirror', labels.mirror, Number(data['offset']), Number(data['len']), 'ready');
      }),
    ]);
    await Promise.all([bothDone, showJobs(client, board, labels, bothDone)]);
    board.finish();
    say(`Mirror READY; the guest has written ${writer.writes} blocks so far. Pivoting (job-complete).`);
    const pivoted = jobEvent(completed, 'mirror', 'BLOCK_JOB_COMPLETED');
    await client.executeRaw('job-complete', { id: 'mirror' });
    await pivoted;
    jobSeconds['mirror'] = (performance.now() - started) / 1000;
    say('Pivoted: the guest now writes to the destination chain.');
    await writer.waitForWrites(100);
    await writer.stop();
    await client.executeRaw('quit').catch(() => undefined);
    await new Promise((resolve) =>
      daemon?.exitCode !== null ? resolve(null) : daemon.once('exit', resolve),
    );
    await client.close();
    client = undefined;

    const mismatches = await verifyChain(join(dest, 'snap.qcow2'), BLOCKS, writer.acknowledged);
    return {
      guestBytes: writer.bytesWritten,
      guestWrites: writer.writes,
      blocksVerified: BLOCKS - mismatches.length,
      mismatches,
      jobSeconds,
    };
  } finally {
    await client?.close().catch(() => undefined);
    if (daemon && daemon.exitCode === null) daemon.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

function printSummary(result: DemoResult, out: NodeJS.WriteStream): void {
  const lines = [
    '',
    'Summary',
    `  guest writes acknowledged  ${result.guestWrites} (${(result.guestBytes / MiB).toFixed(1)} MiB)`,
    `  blocks verified            ${result.blocksVerified} of ${BLOCKS} on the destination chain`,
    ...Object.entries(result.jobSeconds).map(([id, s]) => `  job ${id.padEnd(22)} ${s.toFixed(2)} s`),
    result.mismatches.length === 0
      ? 'VERIFIED: every acknowledged write is on the destination.'
      : `FAILED: ${result.mismatches.length} blocks differ (first: ${result.mismatches.slice(0, 8).join(', ')})`,
  ];
  out.write(`${lines.join('\n')}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runLiveMigration().then(
    (result) => {
      printSummary(result, process.stdout);
      process.exitCode = result.mismatches.length === 0 ? 0 : 1;
    },
    (error: unknown) => {
      process.stderr.write(
        `live migration demo failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
