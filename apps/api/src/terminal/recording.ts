import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type pg from 'pg';

/** A recording stops growing here (and says it was cut): a `cat` of a huge file is not kept whole. */
export const MAX_RECORDING_BYTES = 5 * 1024 * 1024;

/**
 * An asciicast v2 recording of one terminal session: a header line, then `[seconds, "o", text]` for
 * what was shown, `[seconds, "i", text]` for what was typed and `[seconds, "r", "COLSxROWS"]` for each
 * resize. Bytes are decoded as UTF-8 across chunk boundaries, so a character split by the network
 * stays whole.
 */
export class Recorder {
  readonly id = randomBytes(9).toString('base64url');
  readonly startedAt = new Date();
  readonly #lines: string[];
  #bytes: number;
  truncated = false;
  readonly #out = new StringDecoder('utf8');
  readonly #in = new StringDecoder('utf8');

  constructor(size: { cols: number; rows: number; term: string }) {
    const header = JSON.stringify({
      version: 2,
      width: size.cols,
      height: size.rows,
      timestamp: Math.floor(this.startedAt.getTime() / 1000),
      env: { TERM: size.term },
    });
    this.#lines = [header];
    this.#bytes = header.length;
  }

  output(bytes: Buffer): void {
    this.#event('o', this.#out.write(bytes));
  }

  input(bytes: Buffer): void {
    this.#event('i', this.#in.write(bytes));
  }

  resize(cols: number, rows: number): void {
    this.#event('r', `${cols}x${rows}`);
  }

  #event(kind: 'o' | 'i' | 'r', text: string): void {
    if (this.truncated || text === '') return;
    const line = JSON.stringify([(Date.now() - this.startedAt.getTime()) / 1000, kind, text]);
    if (this.#bytes + line.length > MAX_RECORDING_BYTES) {
      this.truncated = true;
      return;
    }
    this.#lines.push(line);
    this.#bytes += line.length + 1;
  }

  /** The recording as an asciicast v2 file. */
  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }

  async save(pool: pg.Pool, session: { instanceId: string; userId: string; via: string }): Promise<string> {
    const cast = this.text();
    await pool.query(
      `INSERT INTO terminal_recordings
         (recording_id, instance_id, user_id, via, started_at, ended_at, bytes, truncated, cast_text)
       VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8)`,
      [
        this.id,
        session.instanceId,
        session.userId,
        session.via,
        this.startedAt,
        Buffer.byteLength(cast),
        this.truncated,
        cast,
      ],
    );
    return this.id;
  }
}
