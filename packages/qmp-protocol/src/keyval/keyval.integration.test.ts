import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient } from '../client/client.js';
import { KeyvalError } from '../errors.js';
import {
  requireStorageDaemon,
  type RunningDaemon,
  startStorageDaemon,
} from '../test-support/storage-daemon.js';
import { parseDaemonOption, type StorageDaemonOption } from './daemon-options.js';
import { parseOptionArgument } from './option-argument.js';

/** Runs the real daemon with one bad option; it prints `...: <option> <value>: <message>` and exits. */
function daemonError(option: string, value: string): Promise<string> {
  const binary = requireStorageDaemon();
  return new Promise((resolve) => {
    execFile(binary, [option, value], { timeout: 10_000 }, (_error, _stdout, stderr) => {
      const prefix = `qemu-storage-daemon: ${option} ${value}: `;
      const line = stderr.split('\n')[0] ?? '';
      resolve(line.startsWith(prefix) ? line.slice(prefix.length) : `unexpected output: ${stderr}`);
    });
  });
}

function ourError(value: string, typeName: string, impliedKey?: string): string {
  try {
    parseOptionArgument(value, typeName, impliedKey === undefined ? {} : { impliedKey });
    return 'accepted';
  } catch (error) {
    if (error instanceof KeyvalError) return error.message;
    throw error;
  }
}

describe('differential: option parsing vs qemu-storage-daemon', () => {
  const blockdevCases = [
    'driver=null-co,node-name=n,size=big',
    'driver=null-co,node-name=n,read-zeroes=maybe',
    'driver=null-co,node-name=n,size=1k',
    'driver=null-co,node-name',
    'driver=null-co,node-name=n,cache.direct=on,cache=1',
    'driver=null-co,node-name=n,a.0=x,a.2=y',
    'driver=null-co,node-name=n,a.0=x,a.b=y',
    'driver=null-co,node-name=n,1a=2',
    'driver=null-co,node-name=n,bogus=1',
    'driver=raw,node-name=n,file.driver=null-co,file.latency-ns=abc',
    'driver=blkdebug,node-name=n,image=x,max-transfer=5000000000',
    'driver=null-co,node-name=n,detect-zeroes=bad',
    'driver=raw,node-name=n',
    'node-name=n',
    '{"driver":"null-co","node-name":"n","size":"1"}',
    '{"driver":"null-co","node-name":"n","bogus":1}',
  ];
  for (const value of blockdevCases) {
    it(`--blockdev ${value}`, async () => {
      expect(ourError(value, 'BlockdevOptions', 'driver')).toBe(await daemonError('--blockdev', value));
    });
  }

  const otherCases: [StorageDaemonOption, string][] = [
    ['--object', 'bogus,id=x'],
    ['--object', 'secret,id=s,data=x,format=bogus'],
    ['--monitor', 'chardev=nochar,mode=bogus'],
    ['--nbd-server', 'unix'],
    ['--export', 'bogus,id=e'],
    ['--export', 'nbd,id=e,node-name=n,writable=x'],
  ];
  for (const [option, value] of otherCases) {
    it(`${option} ${value}`, async () => {
      let ours: string;
      try {
        parseDaemonOption(option, value);
        ours = 'accepted';
      } catch (error) {
        if (!(error instanceof KeyvalError)) throw error;
        ours = error.message;
      }
      expect(ours).toBe(await daemonError(option, value));
    });
  }

  it('--nbd-server with a non-integer limit', async () => {
    const value = 'addr.type=unix,addr.path=/nonexistent/x.sock,max-connections=abc';
    expect(ourError(value, 'NbdServerOptions')).toBe(await daemonError('--nbd-server', value));
  });
});

describe('accepted options mean the same to the daemon', () => {
  let daemon: RunningDaemon;
  // An implied driver, a boolean, and integers in decimal, octal and hexadecimal (strtoll base 0).
  const options = [
    'null-co,node-name=k0,size=4096,read-zeroes=on',
    'driver=null-co,node-name=k1,size=010000',
    'driver=null-co,node-name=k2,size=0x2000,read-zeroes=off',
  ];

  beforeAll(async () => {
    daemon = await startStorageDaemon(options.flatMap((option) => ['--blockdev', option]));
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('each option gives the node the daemon built from it', async () => {
    const parsed = options.map((option) =>
      parseOptionArgument(option, 'BlockdevOptions', { impliedKey: 'driver' }),
    );
    expect(parsed[0]).toEqual({ driver: 'null-co', 'node-name': 'k0', size: 4096, 'read-zeroes': true });
    expect(parsed.map((p) => p['size'])).toEqual([4096, 4096, 8192]);
    const client = await QmpClient.connect({ path: daemon.socketPath });
    try {
      const nodes = await client.execute('query-named-block-nodes');
      for (const options of parsed) {
        const node = nodes.find((n) => n['node-name'] === options['node-name']);
        expect({ drv: node?.drv, size: node?.image['virtual-size'] }).toEqual({
          drv: options['driver'],
          size: options['size'],
        });
      }
    } finally {
      await client.close();
    }
  });
});
