import { describe, expect, it } from 'vitest';
import { LogDecoder } from '../src/docker/log-decoder.js';
import { stampKey } from '../src/docker/logs.js';
import { csvField } from '../src/http/audit-export.js';

/** One frame of Docker's multiplexed log stream. */
const frame = (stream: 1 | 2, text: string | Buffer) => {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
};

/** Feeds the bytes one at a time: every boundary a network could cut at. */
function byteByByte(decoder: LogDecoder, bytes: Buffer) {
  const lines = [];
  for (let i = 0; i < bytes.length; i++) lines.push(...decoder.push(bytes.subarray(i, i + 1)));
  return [...lines, ...decoder.end()];
}

describe('container logs: frames, streams, UTF-8 and timestamps', () => {
  it('tells stdout from stderr, even with frames and characters cut anywhere', () => {
    const bytes = Buffer.concat([
      frame(1, '第一行 out\n'),
      frame(2, 'an error ✗\n'),
      frame(1, '半'),
      frame(1, '行\n'),
    ]);
    expect(byteByByte(new LogDecoder({ multiplexed: true, timestamps: false }), bytes)).toEqual([
      { stream: 'stdout', time: null, text: '第一行 out' },
      { stream: 'stderr', time: null, text: 'an error ✗' },
      { stream: 'stdout', time: null, text: '半行' },
    ]);
  });

  it('a character split between two frames is put back together', () => {
    const smile = Buffer.from('😀\n');
    const bytes = Buffer.concat([frame(1, smile.subarray(0, 2)), frame(1, smile.subarray(2))]);
    expect(new LogDecoder({ multiplexed: true, timestamps: false }).push(bytes)).toEqual([
      { stream: 'stdout', time: null, text: '😀' },
    ]);
  });

  it('with a TTY the stream is raw bytes, CRLF endings; the last line without a newline comes at the end', () => {
    const d = new LogDecoder({ multiplexed: false, timestamps: false });
    expect(d.push(Buffer.from('/ # echo hi\r\nhi\r\n/ # '))).toEqual([
      { stream: 'stdout', time: null, text: '/ # echo hi' },
      { stream: 'stdout', time: null, text: 'hi' },
    ]);
    expect(d.end()).toEqual([{ stream: 'stdout', time: null, text: '/ # ' }]);
  });

  it('splits Docker timestamps off the line', () => {
    const d = new LogDecoder({ multiplexed: true, timestamps: true });
    expect(d.push(frame(2, '2026-11-22T10:00:00.123456789Z oops\n'))).toEqual([
      { stream: 'stderr', time: '2026-11-22T10:00:00.123456789Z', text: 'oops' },
    ]);
  });

  it('the pieces of a cut line keep its timestamp and come after the lines before it', () => {
    const d = new LogDecoder({ multiplexed: false, timestamps: true });
    const out = d.push(Buffer.from(`2026-11-22T10:00:00Z first\n2026-11-22T10:00:01Z ${'y'.repeat(20_000)}`));
    expect(out[0]).toEqual({ stream: 'stdout', time: '2026-11-22T10:00:00Z', text: 'first' });
    expect(out[1]!.time).toBe('2026-11-22T10:00:01Z');
    const rest = d.push(Buffer.from('z'.repeat(20_000)));
    expect(rest.every((l) => l.time === '2026-11-22T10:00:01Z')).toBe(true);
  });

  it('cuts a line that never ends instead of holding it all', () => {
    const d = new LogDecoder({ multiplexed: false, timestamps: false });
    const out = d.push(Buffer.from('x'.repeat(40_000)));
    expect(out.length).toBeGreaterThan(0);
    expect(out.every((l) => l.text.length <= 16 * 1024)).toBe(true);
  });

  it('orders Docker stamps by time although Docker trims trailing zeros', () => {
    expect(stampKey('2026-11-22T10:00:00.12Z') > stampKey('2026-11-22T10:00:00.1234Z')).toBe(false);
    expect(stampKey('2026-11-22T10:00:01Z') > stampKey('2026-11-22T10:00:00.999999999Z')).toBe(true);
  });

  it('CSV fields are quoted when they must be, and formulas are defused', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,"b"\nc')).toBe('"a,""b""\nc"');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField(null)).toBe('');
    expect(csvField(new Date('2026-01-02T03:04:05Z'))).toBe('2026-01-02T03:04:05.000Z');
  });
});
