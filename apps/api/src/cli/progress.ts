/**
 * A one-line progress bar on stderr for long CLI work (redrawn at most 10 times a second; on a
 * non-terminal, one line per 10 % instead, so logs stay readable).
 */
export class ProgressBar {
  #last = 0;
  #lastDecile = -1;
  readonly #started = performance.now();

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, total: number, detail = ''): void {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const now = performance.now();
    if (!this.stream.isTTY) {
      const decile = Math.floor(fraction * 10);
      if (decile > this.#lastDecile) {
        this.#lastDecile = decile;
        this.stream.write(`${this.label}: ${Math.round(fraction * 100)}% ${detail}\n`);
      }
      return;
    }
    if (now - this.#last < 100 && fraction < 1) return;
    this.#last = now;
    const width = 30;
    const filled = Math.round(fraction * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    this.stream.write(
      `\r${this.label} [${bar}] ${String(Math.round(fraction * 100)).padStart(3)}% ${detail}\x1b[K`,
    );
  }

  done(message: string): void {
    if (this.stream.isTTY) this.stream.write('\n');
    this.stream.write(`${message} (${((performance.now() - this.#started) / 1000).toFixed(1)} s)\n`);
  }
}
