import { describe, expect, it } from 'vitest';
import { QmpError } from '../errors.js';
import { MemoryConnection } from '../test-support/memory-transport.js';
import { createStubServer } from '../test-support/stub-server.js';
import { readBytesTranscript, readTextTranscript } from '../test-support/transcripts.js';

const text = new TextDecoder('latin1');

describe('QmpSession replays the recorded qemu-storage-daemon transcripts', () => {
  it('protocol.txt: negotiation, id echo and every malformed-request error, byte for byte', async () => {
    const { greeting, steps } = readTextTranscript('protocol.txt');
    const connection = new MemoryConnection(createStubServer());
    expect(connection.take()).toBe(`${greeting}\r\n`);
    expect(steps.length).toBeGreaterThan(20);
    // The recording stops after sending the final `quit`; its reply is in the byte transcript.
    const last = steps[steps.length - 1]!;
    expect(last.client).toContain('quit');
    expect(last.server).toEqual([]);
    for (const step of steps.slice(0, -1)) {
      connection.send(step.client);
      await connection.settle();
      expect({ sent: step.client, got: connection.take() }).toEqual({
        sent: step.client,
        got: step.server.map((line) => `${line}\r\n`).join(''),
      });
    }
  });

  it('qmp-framing-bytes.txt: back-to-back input, single quotes, escaping, parser reset, numbers', async () => {
    const { greeting, steps } = readBytesTranscript('qmp-framing-bytes.txt');
    const connection = new MemoryConnection(createStubServer());
    expect(connection.take()).toBe(text.decode(greeting));
    for (const step of steps) {
      connection.send(step.client);
      await connection.settle();
      expect(connection.take()).toBe(text.decode(step.server));
    }
    expect(connection.ended).toBe(true);
  });
});

describe('QmpSession behaviour', () => {
  const negotiated = async (): Promise<{
    connection: MemoryConnection;
    server: ReturnType<typeof createStubServer>;
  }> => {
    const server = createStubServer();
    const connection = new MemoryConnection(server);
    connection.take();
    connection.send('{"execute":"qmp_capabilities"}');
    await connection.settle();
    expect(connection.take()).toBe('{"return": {}}\r\n');
    return { connection, server };
  };

  it('sends no events before negotiation and stamps them afterwards', async () => {
    const server = createStubServer({ clock: () => 1_700_000_000_123_456n });
    const connection = new MemoryConnection(server);
    connection.take();
    server.emitEvent('JOB_STATUS_CHANGE', { status: 'created', id: 'j' });
    expect(connection.take()).toBe('');
    connection.send('{"execute":"qmp_capabilities"}');
    await connection.settle();
    connection.take();
    server.emitEvent('JOB_STATUS_CHANGE', { status: 'created', id: 'j' });
    expect(connection.take()).toBe(
      '{"timestamp": {"seconds": 1700000000, "microseconds": 123456}, "event": "JOB_STATUS_CHANGE", "data": {"status": "created", "id": "j"}}\r\n',
    );
  });

  it('writes events a handler emits before that handler reply, and runs requests one at a time', async () => {
    const { connection, server } = await negotiated();
    const order: string[] = [];
    server.register('job-dismiss', async (args) => {
      order.push(`start ${String(args['id'])}`);
      server.emitEvent('JOB_STATUS_CHANGE', { status: 'null', id: args['id']! });
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(`end ${String(args['id'])}`);
      return {};
    });
    connection.send(
      '{"execute":"job-dismiss","arguments":{"id":"a"},"id":1}{"execute":"job-dismiss","arguments":{"id":"b"},"id":2}',
    );
    await new Promise((resolve) => setTimeout(resolve, 40));
    const lines = connection
      .take()
      .split('\r\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b']);
    expect(
      lines.map((l) =>
        l['event'] !== undefined ? `event ${JSON.stringify(l['data'])}` : `reply ${String(l['id'])}`,
      ),
    ).toEqual(['event {"status":"null","id":"a"}', 'reply 1', 'event {"status":"null","id":"b"}', 'reply 2']);
  });

  it('answers commands nobody registered with CommandNotFound', async () => {
    const { connection } = await negotiated();
    connection.send('{"execute":"blockdev-mirror","id":"m"}');
    await connection.settle();
    expect(connection.take()).toBe(
      '{"id": "m", "error": {"class": "CommandNotFound", "desc": "The command blockdev-mirror has not been found"}}\r\n',
    );
  });

  it('turns a handler QmpError into an error reply with its class and keeps serving', async () => {
    const { connection } = await negotiated();
    connection.send(
      '{"execute":"block-job-pause","arguments":{"device":"d0"},"id":7}{"execute":"query-jobs","id":8}',
    );
    await connection.settle();
    expect(connection.take()).toBe(
      '{"id": 7, "error": {"class": "DeviceNotActive", "desc": "Block job \'d0\' not found"}}\r\n{"return": [], "id": 8}\r\n',
    );
  });

  it('turns an unexpected handler exception into a GenericError reply', async () => {
    const { connection, server } = await negotiated();
    server.register('query-block-jobs', () => {
      throw new Error('boom');
    });
    connection.send('{"execute":"query-block-jobs"}');
    await connection.settle();
    expect(connection.take()).toBe('{"error": {"class": "GenericError", "desc": "boom"}}\r\n');
  });

  it('answers query-commands from the registered commands and query-qmp-schema from data', async () => {
    const { connection, server } = await negotiated();
    connection.send('{"execute":"query-commands"}');
    await connection.settle();
    const names = (JSON.parse(connection.take()) as { return: { name: string }[] }).return.map((c) => c.name);
    expect(new Set(names)).toEqual(new Set(server.commandNames()));
    expect(names).toContain('qmp_capabilities');
    connection.send('{"execute":"query-qmp-schema"}');
    await connection.settle();
    const schema = JSON.parse(connection.take()) as { return: { 'meta-type': string }[] };
    expect(schema.return.filter((e) => e['meta-type'] === 'command')).toHaveLength(74);
  });

  it('validates arguments before running the handler', async () => {
    const { connection, server } = await negotiated();
    let ran = false;
    server.register('block-job-set-speed', () => {
      ran = true;
      return {};
    });
    connection.send('{"execute":"block-job-set-speed","arguments":{"device":"d","speed":"fast"}}');
    await connection.settle();
    expect(connection.take()).toBe(
      '{"error": {"class": "GenericError", "desc": "Invalid parameter type for \'speed\', expected: integer"}}\r\n',
    );
    expect(ran).toBe(false);
    expect(() => {
      throw new QmpError('GenericError', 'x');
    }).toThrow(QmpError);
  });
});

describe('QmpSession reply shaping', () => {
  it('writes reply members in schema order, as QEMU inserts them', async () => {
    const server = createStubServer();
    // Members given in an order different from the schema; 'minor' and 'micro' share a bucket.
    server.register('query-version', () => ({ package: 'p', qemu: { micro: 3, minor: 2, major: 1 } }));
    const connection = new MemoryConnection(server);
    connection.take();
    connection.send('{"execute":"qmp_capabilities"}{"execute":"query-version"}');
    await connection.settle();
    expect(connection.take()).toBe(
      '{"return": {}}\r\n{"return": {"qemu": {"micro": 3, "minor": 2, "major": 1}, "package": "p"}}\r\n',
    );
  });

  it('refuses a reply that does not match the return type when replies are strict', async () => {
    const server = createStubServer({ strictReplies: true });
    server.register('query-jobs', () => [{ id: 'j', type: 'mirror' }] as never);
    const connection = new MemoryConnection(server);
    connection.take();
    connection.send('{"execute":"qmp_capabilities"}{"execute":"query-jobs","id":1}');
    await connection.settle();
    expect(connection.take()).toBe(
      '{"return": {}}\r\n{"id": 1, "error": {"class": "GenericError", "desc": "reply to \'query-jobs\' does not match the schema: Parameter \'[0].status\' is missing"}}\r\n',
    );
  });
});

describe('QmpSession under hostile input keeps serving', () => {
  const start = async (options: Parameters<typeof createStubServer>[0] = {}): Promise<MemoryConnection> => {
    const connection = new MemoryConnection(createStubServer(options));
    connection.take();
    connection.send('{"execute":"qmp_capabilities"}');
    await connection.settle();
    connection.take();
    return connection;
  };
  const replies = (output: string): Record<string, unknown>[] =>
    output
      .split('\r\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const stillServes = async (connection: MemoryConnection): Promise<void> => {
    connection.send('\n{"execute":"query-jobs","id":"alive"}');
    await connection.settle();
    expect(connection.take()).toBe('{"return": [], "id": "alive"}\r\n');
  };

  it('a string larger than the token limit: one error reply, then normal service', async () => {
    const connection = await start({ decoderLimits: { maxTokenSize: 64 * 1024 } });
    connection.send(`{"execute":"query-jobs","id":"${'x'.repeat(200 * 1024)}"}`);
    // The lexer restarted inside the string, so its closing quote opens a new one: a newline ends it.
    connection.send('\n');
    await connection.settle();
    const out = replies(connection.take());
    expect(out[0]).toEqual({ error: { class: 'GenericError', desc: 'JSON token size limit exceeded' } });
    expect(out.every((r) => (r['error'] as { class: string }).class === 'GenericError')).toBe(true);
    await stillServes(connection);
  });

  it('nesting deeper than 1024: the QEMU error, an error per dangling closer, then normal service', async () => {
    const connection = await start();
    connection.send('['.repeat(1025));
    await connection.settle();
    expect(connection.take()).toBe(
      '{"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}\r\n',
    );
    connection.send(']]');
    await connection.settle();
    expect(connection.take()).toBe(
      '{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}\r\n'.repeat(2),
    );
    await stillServes(connection);
  });

  it('a flood of tiny messages in one chunk is answered in order', async () => {
    const connection = await start();
    connection.send('[]'.repeat(20000));
    connection.send('{"execute":"query-jobs","id":"last"}');
    for (let i = 0; i < 50; i++) await connection.settle();
    const out = connection.take().split('\r\n');
    expect(out.filter((l) => l.includes('QMP input must be a JSON object'))).toHaveLength(20000);
    expect(out[out.length - 2]).toBe('{"return": [], "id": "last"}');
  });

  it('invalid UTF-8 in a string gets the QEMU error reply', async () => {
    const connection = await start();
    connection.send(
      Uint8Array.from([
        ...new TextEncoder().encode('{"execute":"query-jobs","id":"'),
        0xed,
        0xa0,
        0x80,
        0x22,
        0x7d,
      ]),
    );
    await connection.settle();
    expect(connection.take()).toBe(
      '{"error": {"class": "GenericError", "desc": "JSON parse error, invalid UTF-8 sequence in string"}}\r\n',
    );
    await stillServes(connection);
  });

  it('random garbage gives only GenericError replies and the session recovers after 0xFF', async () => {
    const connection = await start({ decoderLimits: { maxDepth: 64 } });
    let seed = 99;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) & 0xff;
    };
    for (let round = 0; round < 20; round++) {
      connection.send(Uint8Array.from({ length: 500 }, random));
      await connection.settle();
      for (const reply of replies(connection.take())) {
        if (reply['error'] !== undefined)
          expect((reply['error'] as { class: string }).class).toMatch(/GenericError|CommandNotFound/);
      }
      // Close whatever the garbage left open, then reset the lexer.
      connection.send(Uint8Array.from([0xff, 0x0a]));
      connection.send(']'.repeat(70) + '}'.repeat(70));
      await connection.settle();
      connection.take();
      await stillServes(connection);
    }
  });
});
