import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One server→client event line of a recorded QMP transcript. */
export interface RecordedEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads a transcript from the package's third_party folder. */
export function loadTranscript(name: string): string {
  const url = new URL(`../../third_party/qemu-7.2/transcripts/${name}`, import.meta.url);
  return readFileSync(fileURLToPath(url), 'utf8');
}

/**
 * The job events of one job in a transcript, in order: `JOB_STATUS_CHANGE` with that id,
 * and `BLOCK_JOB_*` events whose `device` (or `id`) is that job.
 */
export function jobEvents(transcript: string, jobId: string): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  for (const line of transcript.split('\n')) {
    if (!line.startsWith('S: ')) continue;
    const message = JSON.parse(line.slice(3)) as { event?: string; data?: Record<string, unknown> };
    if (!message.event || !message.data) continue;
    if (message.data['id'] === jobId || message.data['device'] === jobId) {
      events.push({ event: message.event, data: message.data });
    }
  }
  return events;
}

/**
 * A comparable summary of an event: its name plus the members that are not timing- or
 * size-dependent (status, action, operation, type), and the sorted member names.
 */
export function eventShape(event: RecordedEvent): string {
  const d = event.data;
  const detail = ['status', 'action', 'operation', 'type']
    .filter((k) => k in d)
    .map((k) => `${k}=${String(d[k])}`);
  if ('error' in d) detail.push('error');
  return `${event.event}(${detail.join(',')})[${Object.keys(d).sort().join(',')}]`;
}
