import { describe, expect, it } from 'vitest';
import { parseChardev } from './chardev.js';
import { DaemonOptionError, parseCommandLine } from './command-line.js';

describe('parseCommandLine', () => {
  it('keeps options in order, with separate and inline values and unambiguous prefixes', () => {
    expect(
      parseCommandLine([
        '--blockdev',
        'null-co,node-name=a',
        '--object=throttle-group,id=t',
        '--pid',
        'p',
        '-V',
      ]),
    ).toEqual([
      { option: '--blockdev', value: 'null-co,node-name=a', text: '--blockdev null-co,node-name=a' },
      { option: '--object', value: 'throttle-group,id=t', text: '--object=throttle-group,id=t' },
      { option: '--pidfile', value: 'p', text: '--pid p' },
      { option: '--version', value: '', text: '-V' },
    ]);
  });

  it.each([
    [['--bogus'], "unrecognized option '--bogus'"],
    [['--blockdev'], "option '--blockdev' requires an argument"],
    [['--help=1'], "option '--help' doesn't allow an argument"],
    [['-x'], "invalid option -- 'x'"],
    [['stray'], 'stray: Unexpected argument'],
    [['--', 'after'], 'after: Unexpected argument'],
  ])('%j fails with getopt wording', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(new DaemonOptionError(message));
  });
});

describe('parseChardev', () => {
  it('reads unix and TCP listening sockets', () => {
    expect(parseChardev('socket,id=m,path=/run/q.sock,server=on,wait=off')).toEqual({
      id: 'm',
      kind: 'unix',
      path: '/run/q.sock',
      server: true,
      wait: false,
    });
    expect(parseChardev('socket,id=t,host=127.0.0.1,port=4444,server=on,wait=off')).toEqual({
      id: 't',
      kind: 'tcp',
      host: '127.0.0.1',
      port: 4444,
      server: true,
      wait: false,
    });
  });

  it.each([
    ['socket,path=x,server=on', 'chardev: no id specified'],
    ['socket,id=c', 'Unable to parse FD number '],
    ['socket,id=c,host=h,server=on', 'chardev: socket: no port given'],
    ['socket,id=c,path=x,server=maybe', "Parameter 'server' expects 'on' or 'off'"],
    ['socket,id=c,path=x', 'client-mode chardev sockets are not supported by strata-storage-daemon'],
    ['file,id=c,path=x', "chardev backend 'file' is not supported by strata-storage-daemon"],
    ['socket,id=c,host=h,port=99999,server=on', "Port '99999' is invalid"],
  ])('%s fails: %s', (value, message) => {
    expect(() => parseChardev(value)).toThrow(new DaemonOptionError(message));
  });
});
