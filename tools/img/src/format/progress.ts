import { cFixed } from './c-fixed.js';

/**
 * qemu-img's progress line: `    (12.34/100%)` followed by a carriage return, rewritten as work
 * advances (at least one percent apart), then a newline at the end. Disabled progress costs
 * nothing.
 */
export class Progress {
  private lastPrinted = 0;

  constructor(
    private readonly write: ((text: string) => void) | null,
    /** Smallest change (in percent) worth printing; qemu-img uses 1. */
    private readonly minStep = 1,
  ) {}

  /** Prints the initial `0.00` line. */
  start(): void {
    this.print(0);
  }

  /** Reports `done` of `total` units (any unit: bytes, sectors). */
  update(done: number, total: number): void {
    if (!this.write) return;
    const percent = total > 0 ? Math.min(100, (done * 100) / total) : 100;
    if (percent >= this.lastPrinted + this.minStep || percent === 100) this.print(percent);
  }

  /** Prints a `100.00` line (qemu-img prints one when a command's work is complete). */
  complete(): void {
    this.print(100);
  }

  /** Ends the progress output with a newline. */
  end(): void {
    if (!this.write) return;
    this.write('\n');
  }

  private print(percent: number): void {
    if (!this.write) return;
    this.lastPrinted = percent;
    this.write(progressLine(percent));
  }
}

/** One progress line exactly as qemu-img prints it. */
export function progressLine(percent: number): string {
  return `    (${cFixed(percent, 2)}/100%)\r`;
}
