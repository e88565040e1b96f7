import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { parseCommandLine } from '../daemon/command-line.js';
import { type RunningDaemon, startDaemon } from '../daemon/daemon.js';
import { helpText } from '../daemon/help.js';

const PROGRAM = 'strata-storage-daemon';
/** Set in the child of `--daemonize`: the file descriptor to report startup on. */
const READY_FD_ENV = 'STRATA_STORAGE_DAEMON_READY_FD';

function fail(message: string): never {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  process.exit(1);
}

function packageVersion(): string {
  const url = new URL('../../package.json', import.meta.url);
  const parsed: unknown = JSON.parse(readFileSync(url, 'utf8'));
  const version = (parsed as { version?: unknown }).version;
  return typeof version === 'string' ? version : 'unknown';
}

async function main(argv: readonly string[]): Promise<void> {
  let args: ReturnType<typeof parseCommandLine>;
  try {
    args = parseCommandLine(argv);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  // Like qemu-storage-daemon, --help and --version act in a first pass, before anything opens.
  for (const arg of args) {
    if (arg.option === '--help') {
      process.stdout.write(helpText(PROGRAM));
      return;
    }
    if (arg.option === '--version') {
      process.stdout.write(
        `${PROGRAM} version ${packageVersion()} (qemu-storage-daemon 7.2 compatible)\nCopyright (c) the Strata authors\n`,
      );
      return;
    }
  }
  const daemonize = args.some((a) => a.option === '--daemonize');
  const pidfile = args.filter((a) => a.option === '--pidfile').at(-1)?.value;
  if (daemonize && process.env[READY_FD_ENV] === undefined) {
    process.exitCode = await daemonizeParent(argv);
    return;
  }

  let daemon: RunningDaemon | undefined;
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void (daemon?.stop() ?? Promise.resolve()).then(
      () => process.exit(0),
      (error: unknown) => fail(error instanceof Error ? error.message : String(error)),
    );
  };
  try {
    daemon = await startDaemon(args, { daemonize, pidfile }, { onQuit: stop });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', stop);
  reportReady();
}

/**
 * The parent half of `--daemonize`: starts a detached copy of this process and exits with
 * its startup result once the child reports that startup completed (or failed).
 */
function daemonizeParent(argv: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
      detached: true,
      // The child's output is relayed until startup completes; then, as QEMU does, the
      // daemon is cut off from the terminal.
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, [READY_FD_ENV]: '3' },
    });
    const ready = child.stdio[3];
    child.stdout?.pipe(process.stdout);
    child.stderr?.pipe(process.stderr);
    let reported = false;
    ready?.on('data', () => {
      reported = true;
      child.stdout?.destroy();
      child.stderr?.destroy();
      ready.destroy();
      child.unref();
      resolve(0);
    });
    child.on('exit', (code) => {
      if (!reported) resolve(code ?? 1);
    });
  });
}

/** In a daemonized child: tells the parent startup completed, then detaches from its terminal. */
function reportReady(): void {
  const fd = process.env[READY_FD_ENV];
  if (fd === undefined) return;
  delete process.env[READY_FD_ENV];
  // The parent stops reading our output once it exits: writes must not kill the daemon.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const stream = createWriteStream('', { fd: Number(fd) });
  stream.end('ready\n');
}

await main(process.argv.slice(2));
