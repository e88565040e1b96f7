import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpError } from '../errors.js';
import { RawQmpConnection, type RunningDaemon, startStorageDaemon } from '../test-support/storage-daemon.js';
import { createStubServer } from '../test-support/stub-server.js';
import { listenQmp } from './net-transport.js';
import type { QmpServer } from './server.js';

/**
 * The same raw byte sequences go to the real qemu-storage-daemon and to a QmpServer from this
 * package (with stub handlers standing in for an empty daemon); the replies must be identical
 * byte for byte once timestamps and version strings are masked. After each step a marker
 * request (`query-jobs` with a unique id) tells when the step's replies are complete.
 */

let daemon: RunningDaemon;
let ours: QmpServer;
let oursListener: Server;
let oursDir: string;

beforeAll(async () => {
  daemon = await startStorageDaemon();
  oursDir = await mkdtemp(join(tmpdir(), 'strata-qmp-diff-'));
  ours = createStubServer();
  ours.register('blockdev-add', () => {
    throw new QmpError('GenericError', 'the test server opens no images');
  });
  for (const name of [
    'transaction',
    'block-dirty-bitmap-add',
    'block-dirty-bitmap-merge',
    'block_resize',
    'blockdev-create',
    'nbd-server-start',
    'block-stream',
  ]) {
    ours.register(name, () => {
      throw new QmpError('GenericError', `the test server does not implement ${name}`);
    });
  }
  oursListener = await listenQmp(ours, { path: join(oursDir, 'qmp.sock') });
});

afterAll(async () => {
  await daemon?.stop();
  await new Promise((resolve) => oursListener?.close(resolve));
  if (oursDir !== undefined) await rm(oursDir, { recursive: true, force: true });
});

const mask = (text: string): string =>
  text
    .replace(/\{"seconds": \d+, "microseconds": \d+\}/g, '<TIMESTAMP>')
    .replace(/\{"qemu": \{"micro": \d+, "minor": \d+, "major": \d+\}, "package": "[^"]*"\}/g, '<VERSION>');

type Step = string | Uint8Array;

async function run(socketPath: string, steps: readonly Step[]): Promise<string[]> {
  const connection = await RawQmpConnection.open(socketPath);
  const out = [mask(await connection.take(1))];
  for (const [i, step] of steps.entries()) {
    connection.send(step);
    const marker = `"id": "sync-${i}"`;
    connection.send(`\n{"execute":"query-jobs","id":"sync-${i}"}`);
    out.push(mask(await connection.takeUntil(marker)));
  }
  connection.close();
  return out;
}

async function differential(steps: readonly Step[]): Promise<void> {
  const real = await run(daemon.socketPath, steps);
  const mine = await run(join(oursDir, 'qmp.sock'), steps);
  // Every step must have produced a reply on the real daemon (the marker at least).
  expect(real.slice(1).every((s) => s.includes('sync-'))).toBe(true);
  const labelled = (outputs: string[]): { step: string; output: string }[] =>
    outputs.map((output, i) => ({ step: i === 0 ? 'greeting' : String(steps[i - 1]), output }));
  expect(labelled(mine)).toEqual(labelled(real));
}

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p)));

describe('differential: QmpServer vs qemu-storage-daemon 7.2 on the same bytes', () => {
  it('negotiation, CommandNotFound before it, capability errors, second negotiation', async () => {
    await differential([
      '{"execute": "query-version", "id": "early"}',
      '{"execute": "no-such-command"}',
      '{"execute": "qmp_capabilities", "arguments": {"enable": ["bogus"]}}',
      '{"execute": "qmp_capabilities", "arguments": {"bogus": 1}, "id": 0}',
      '{"execute": "qmp_capabilities", "id": 1}',
      '{"execute": "qmp_capabilities", "id": 2}',
      '{"execute": "query-version", "id": "v"}',
      '{"execute": "no-such-command", "id": 3}',
      // Answered from the recorded introspection: it must equal what the installed daemon says.
      '{"execute": "query-qmp-schema", "id": "schema"}',
    ]);
  });

  it('id echo of every JSON type and number format', async () => {
    await differential([
      '{"execute":"qmp_capabilities"}',
      '{"execute": "query-jobs", "id": "str"}',
      '{"execute": "query-jobs", "id": 42}',
      '{"execute": "query-jobs", "id": {"b": 1, "a": [1, 2.5, null, true], "c": {}}}',
      '{"execute": "query-jobs", "id": null}',
      '{"execute": "query-jobs", "id": 3.5e0}',
      '{"execute": "query-jobs", "id": 0.1}',
      '{"execute": "query-jobs", "id": -0.0}',
      '{"execute": "query-jobs", "id": 12345678901234567890}',
      '{"execute": "query-jobs", "id": 123456789012345678901234}',
      '{"execute": "query-jobs", "id": -9223372036854775808}',
      "{'execute': 'query-jobs', 'id': 'single \"quoted\"'}",
      bytes(
        '{"execute":"query-jobs","id":"caf',
        [0xc3, 0xa9, 0x20, 0xf0, 0x9f, 0x98, 0x80],
        '\\t\\u0007\\/"}',
      ),
      bytes('{"execute":"query-jobs","id":"', [0xc0, 0x80], '"}'),
      '{"execute":"query-jobs"}{"execute":"query-jobs","id":"back-to-back"}',
    ]);
  });

  it('malformed requests: envelope errors in QEMU order', async () => {
    await differential([
      '{"execute":"qmp_capabilities"}',
      '{"execute": "query-jobs", "arguments": [], "id": 8}',
      '{"execute": "query-jobs", "arguments": null}',
      '{"execute": 1, "id": 9}',
      '{"execute": "query-jobs", "bogus": 1, "id": 10}',
      '{"execute": "query-jobs", "zzz": 1, "aaa": 2, "id": 10}',
      '[1, 2]',
      '42 "x" null',
      '{"id": 5}',
      '{"exec-oob": "query-jobs", "id": 12}',
      '{"execute": "query-jobs", "exec-oob": "query-jobs", "id": 13}',
    ]);
  });

  it('parse errors and recovery', async () => {
    await differential([
      '{"execute":"qmp_capabilities"}',
      '{"execute": \n}',
      bytes('{"execute": ', [0x01]),
      bytes('{"execute":"query-jobs","id":"', [0xff], '"}'),
      bytes([0xc3, 0xa9]),
      bytes('{"execute":"query-jobs","id":"', [0xed, 0xa0, 0x80], '"}'),
      bytes('{"execute":"query-jobs","id":"', [0xef, 0xbf, 0xbf], '"}'),
      '{"execute":"query-jobs","id":"\\ud800"}',
      '{"execute":"query-jobs","id":"\\uD83D\\u0041"}',
      '{"execute":"query-jobs","id":"\\q"}',
      '{"execute":"query-jobs","id":tru}',
      '{"execute":"query-jobs","id":01}',
      '{"execute":"query-jobs","id":1}}',
      '{"execute":"query-jobs" "id":1}',
      '{1:2}',
      '{"a":1,}',
      '[1,]',
      '{"a":1,"a":2}',
      '['.repeat(1025),
      ']]]',
      bytes('{"execute":"query-jobs","id":"caf', [0xc3, 0xa9, 0x01], '"}'),
    ]);
  });

  it('argument validation on real commands', async () => {
    await differential([
      '{"execute":"qmp_capabilities"}',
      '{"execute": "job-cancel", "id": 4}',
      '{"execute": "job-cancel", "arguments": {"id": 5}, "id": 5}',
      '{"execute": "job-cancel", "arguments": {"id": "nope"}, "id": 7}',
      '{"execute": "query-jobs", "arguments": {"bogus": 1}, "id": 6}',
      '{"execute": "block-job-pause", "id": "p1"}',
      '{"execute": "block-job-pause", "arguments": {"device": 5}}',
      '{"execute": "block-job-pause", "arguments": {"device": "nope", "extra": true}}',
      '{"execute": "block-job-pause", "arguments": {"device": "nope"}}',
      '{"execute": "query-block-jobs", "arguments": {"device": "x"}}',
      '{"execute": "query-named-block-nodes", "arguments": {"flat": "x"}}',
      '{"execute": "query-named-block-nodes", "arguments": {"flat": true}}',
      '{"execute":"block-dirty-bitmap-add","arguments":{"node":"x","name":"b","granularity":"x"}}',
      '{"execute":"block-dirty-bitmap-add","arguments":{"node":"x","name":"b","granularity":-1}}',
      '{"execute":"block-dirty-bitmap-add","arguments":{"node":"x","name":"b","granularity":5000000000}}',
      '{"execute":"block_resize","arguments":{"node-name":"x","size":1.5}}',
      '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"n","file":{"driver":"bogus"}}}',
      '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"n","file":5}}',
      '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"n","file":{"driver":"file"}}}',
      '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"n","file":{"driver":"file","filename":"/x","bogus":1,"zzz":2}}}',
      '{"execute":"blockdev-add","arguments":{"node-name":"n"}}',
      '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"n","cache":{"direct":"x"}}}',
      '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"n","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9}}',
      '{"execute":"blockdev-add","arguments":{"driver":"raw","node-name":"n","file":{"driver":"blkdebug","image":"x","max-transfer":5000000000}}}',
      '{"execute":"transaction","arguments":{"actions":[{"type":"abort","data":{}},{"type":"bogus"}]}}',
      '{"execute":"transaction","arguments":{"actions":[5]}}',
      '{"execute":"transaction","arguments":{"actions":[{"data":{}}]}}',
      '{"execute":"block-dirty-bitmap-merge","arguments":{"node":"x","target":"b","bitmaps":[5]}}',
      '{"execute":"blockdev-create","arguments":{"job-id":"j","options":{"driver":"file","filename":"/x","size":"x"}}}',
      '{"execute":"nbd-server-start","arguments":{"addr":{"type":"unix","path":"/x"}}}',
      '{"execute":"block-stream","arguments":{"device":"x","base-node":null}}',
    ]);
  });

  it('out-of-band: exec-oob once oob is enabled', async () => {
    await differential([
      '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":"neg"}',
      '{"exec-oob": "query-jobs", "id": 12}',
      '{"exec-oob": "query-jobs"}',
      '{"exec-oob": 5, "id": 14}',
      '{"execute": "query-jobs", "exec-oob": "query-jobs", "id": 13}',
      '{"exec-oob": "no-such-command", "id": 15}',
    ]);
  });
});
