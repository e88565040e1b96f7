import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../json/json-value.js';
import { EventThrottle, type ThrottleTimers } from './event-throttle.js';

/** Manual timers: `advance` fires whatever is due. */
class FakeTimers implements ThrottleTimers {
  now = 0;
  private pending: { at: number; callback: () => void; id: number }[] = [];
  private nextId = 1;
  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.push({ at: this.now + ms, callback, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== handle);
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.pending.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.pending = this.pending.filter((t) => t !== due);
      this.now = due.at;
      due.callback();
    }
    this.now = until;
  }
}

describe('EventThrottle', () => {
  const setup = (): {
    timers: FakeTimers;
    sent: string[];
    offer: (event: string, data: JsonObject, tag: string) => void;
  } => {
    const timers = new FakeTimers();
    const sent: string[] = [];
    const throttle = new EventThrottle((message) => sent.push(String(message['tag'])), timers);
    return { timers, sent, offer: (event, data, tag) => throttle.offer(event, data, { event, data, tag }) };
  };

  it('never delays block and job events', () => {
    const { sent, offer } = setup();
    for (let i = 0; i < 5; i++) offer('JOB_STATUS_CHANGE', { id: 'j', status: 'running' }, `j${i}`);
    expect(sent).toEqual(['j0', 'j1', 'j2', 'j3', 'j4']);
  });

  it('sends the first at once, keeps only the last of a period and sends it when the period ends', () => {
    const { timers, sent, offer } = setup();
    offer('QUORUM_FAILURE', { reference: 'q' }, 'a');
    offer('QUORUM_FAILURE', { reference: 'q' }, 'b');
    offer('QUORUM_FAILURE', { reference: 'q' }, 'c');
    expect(sent).toEqual(['a']);
    timers.advance(1000);
    expect(sent).toEqual(['a', 'c']);
    // The delayed send opened a new period.
    offer('QUORUM_FAILURE', { reference: 'q' }, 'd');
    expect(sent).toEqual(['a', 'c']);
    timers.advance(1000);
    expect(sent).toEqual(['a', 'c', 'd']);
    // A quiet period closes the throttle: the next event goes out at once.
    timers.advance(1000);
    offer('QUORUM_FAILURE', { reference: 'q' }, 'e');
    expect(sent).toEqual(['a', 'c', 'd', 'e']);
  });

  it('throttles QUORUM_REPORT_BAD per node-name', () => {
    const { sent, offer } = setup();
    offer('QUORUM_REPORT_BAD', { 'node-name': 'a', type: 'read', sector: 0, sectors: 1 }, 'a1');
    offer('QUORUM_REPORT_BAD', { 'node-name': 'b', type: 'read', sector: 0, sectors: 1 }, 'b1');
    offer('QUORUM_REPORT_BAD', { 'node-name': 'a', type: 'read', sector: 0, sectors: 1 }, 'a2');
    expect(sent).toEqual(['a1', 'b1']);
  });
});
