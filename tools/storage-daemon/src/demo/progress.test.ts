import { expect, it } from 'vitest';
import { ProgressBoard } from './progress.js';

function sink(): { out: NodeJS.WriteStream; text: () => string } {
  let written = '';
  const out = {
    isTTY: false,
    write(chunk: string) {
      written += chunk;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { out, text: () => written };
}

const MiB = 1024 * 1024;

it('prints plain lines when the output is not a terminal: one per quarter or status change', () => {
  const { out, text } = sink();
  const board = new ProgressBoard(out);
  for (let done = 0; done <= 8; done++) {
    board.update('j', 'copy', done * MiB, 8 * MiB, 'running');
    board.render();
  }
  board.update('j', 'copy', 8 * MiB, 8 * MiB, 'concluded');
  board.finish();
  expect(text()).not.toContain('\x1b[');
  expect(text().trimEnd().split('\n')).toEqual([
    '  copy:   0%  0.0 MiB / 8.0 MiB  running',
    '  copy:  25%  2.0 MiB / 8.0 MiB  running',
    '  copy:  50%  4.0 MiB / 8.0 MiB  running',
    '  copy:  75%  6.0 MiB / 8.0 MiB  running',
    '  copy: 100%  8.0 MiB / 8.0 MiB  running',
    '  copy: 100%  8.0 MiB / 8.0 MiB  concluded',
  ]);
});

it('redraws the bars in place on a terminal', () => {
  const { out, text } = sink();
  const board = new ProgressBoard(out, true);
  board.update('a', 'mirror', 0, 4 * MiB, 'running');
  board.update('b', 'backup', 0, 4 * MiB, 'running');
  board.render();
  board.update('a', 'mirror', 4 * MiB, 4 * MiB, 'ready');
  board.render();
  const frames = text().split('\x1b[2A');
  expect(frames).toHaveLength(2);
  expect(frames[1]).toContain('[############################] 100%  4.0 MiB / 4.0 MiB  ready');
  expect(frames[1]).toContain('[----------------------------]   0%  0.0 MiB / 4.0 MiB  running');
});
