import { StringDecoder } from 'node:string_decoder';

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** Docker's RFC 3339 stamp with nanoseconds, when asked for. */
  time: string | null;
  text: string;
}

/** A line longer than this is cut (a program writing megabytes without a newline). */
export const MAX_LINE = 16 * 1024;

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?/;

/**
 * Turns Docker's log stream into lines. Without a TTY Docker multiplexes stdout and stderr in frames
 * (8-byte header: stream, 0, 0, 0, length big-endian); with one it sends raw bytes. A frame, and a
 * UTF-8 character, may be split across chunks: bytes are kept until whole, per stream.
 */
export class LogDecoder {
  #pending = Buffer.alloc(0);
  readonly #text = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  readonly #partial = { stdout: '', stderr: '' };

  constructor(private readonly options: { multiplexed: boolean; timestamps: boolean }) {}

  push(chunk: Buffer): LogLine[] {
    const out: LogLine[] = [];
    if (!this.options.multiplexed) {
      this.#add('stdout', chunk, out);
      return out;
    }
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      // 1 stdout, 2 stderr (0 stdin is never sent back).
      this.#add(buf[0] === 2 ? 'stderr' : 'stdout', buf.subarray(8, 8 + size), out);
      buf = buf.subarray(8 + size);
    }
    this.#pending = Buffer.from(buf);
    return out;
  }

  /** The last lines that had no newline yet. */
  end(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.#partial[stream] + this.#text[stream].end();
      this.#partial[stream] = '';
      if (rest !== '') out.push(this.#line(stream, rest));
    }
    return out;
  }

  #add(stream: 'stdout' | 'stderr', bytes: Buffer, out: LogLine[]): void {
    const text = this.#partial[stream] + this.#text[stream].write(bytes);
    const parts = text.split('\n');
    this.#partial[stream] = parts.pop() ?? '';
    for (const part of parts) out.push(this.#line(stream, part));
    // After the whole lines before it: a line that never ends is handed out in pieces, in order.
    if (this.#partial[stream].length > MAX_LINE) {
      out.push(this.#line(stream, this.#partial[stream]));
      this.#partial[stream] = '';
    }
  }

  /** The last stamp seen per stream: the pieces of a cut line carry their line's. */
  readonly #lastTime: { stdout: string | null; stderr: string | null } = { stdout: null, stderr: null };

  #line(stream: 'stdout' | 'stderr', raw: string): LogLine {
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    let time: string | null = null;
    if (this.options.timestamps) {
      const m = STAMP.exec(text);
      if (m) {
        time = m[1]!;
        text = text.slice(m[0].length);
      } else {
        time = this.#lastTime[stream];
      }
      this.#lastTime[stream] = time;
    }
    return { stream, time, text: text.length > MAX_LINE ? text.slice(0, MAX_LINE) : text };
  }
}
