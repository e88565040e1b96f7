/** One line of the board: a job's progress, or a counter such as the guest's writes. */
interface Row {
  label: string;
  current: number;
  total: number;
  status: string;
  /** Last quarter printed in plain mode, so a log gets one line per 25 %, not per poll. */
  printedQuarter: number;
  printedStatus: string;
}

const BAR_WIDTH = 28;

function percent(row: Row): number {
  return row.total > 0 ? Math.min(100, Math.floor((row.current / row.total) * 100)) : 0;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Progress bars, one per job, redrawn in place on a terminal. When the output is not a
 * terminal (a pipe, a CI log) it prints a plain line when a job changes status or crosses a
 * quarter, so logs stay readable. Dependency-free: a handful of ANSI sequences is all a
 * redraw needs.
 */
export class ProgressBoard {
  private readonly rows = new Map<string, Row>();
  private drawn = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty = out.isTTY === true,
  ) {}

  /** Sets a row's figures (bytes) and status, creating the row on first use. */
  update(id: string, label: string, current: number, total: number, status: string): void {
    let row = this.rows.get(id);
    if (!row) {
      row = { label, current, total, status, printedQuarter: -1, printedStatus: '' };
      this.rows.set(id, row);
    }
    Object.assign(row, { label, current, total, status });
    if (this.tty) return;
    const quarter = Math.floor(percent(row) / 25);
    if (quarter !== row.printedQuarter || status !== row.printedStatus) {
      row.printedQuarter = quarter;
      row.printedStatus = status;
      this.out.write(`${this.line(row, false)}\n`);
    }
  }

  /** Redraws every bar in place (terminal only). */
  render(): void {
    if (!this.tty) return;
    const lines = [...this.rows.values()].map((row) => this.line(row, true));
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A`);
    for (const line of lines) this.out.write(`\r\x1b[2K${line}\n`);
    this.drawn = lines.length;
  }

  /** Draws a last time and lets the following output start below the bars. */
  finish(): void {
    this.render();
    this.drawn = 0;
  }

  /** Prints a message above the bars (they are redrawn under it). */
  log(message: string): void {
    if (this.tty && this.drawn > 0) {
      this.out.write(`\x1b[${this.drawn}A\r\x1b[0J`);
      this.drawn = 0;
    }
    this.out.write(`${message}\n`);
    this.render();
  }

  private line(row: Row, bar: boolean): string {
    const pct = percent(row);
    const figures = `${String(pct).padStart(3)}%  ${mib(row.current)} / ${mib(row.total)}  ${row.status}`;
    if (!bar) return `  ${row.label}: ${figures}`;
    const filled = Math.round((pct / 100) * BAR_WIDTH);
    return `  ${row.label.padEnd(18)} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${figures}`;
  }
}
