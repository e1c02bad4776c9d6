import { describe, expect, it } from 'vitest';
import { PidAnnouncement } from '../src/docker/exec-pid.js';

const feed = (a: PidAnnouncement, bytes: Buffer, size: number) => {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(a.take(bytes.subarray(i, i + size)));
  return Buffer.concat(out).toString();
};

describe("a session's PID announcement", () => {
  it('is taken off the output and kept, however the output is cut', () => {
    for (const size of [1, 3, 7, 1000]) {
      const a = new PidAnnouncement();
      expect(feed(a, Buffer.from('tianqi-pid:4242\nerr: no such file\n'), size)).toBe('err: no such file\n');
      expect(a.pid).toBe('4242');
    }
  });

  it('is taken off a TTY line (CR LF) too', () => {
    const a = new PidAnnouncement();
    expect(feed(a, Buffer.from('tianqi-pid:17\r\n$ '), 2)).toBe('$ ');
    expect(a.pid).toBe('17');
  });

  it('leaves output alone that does not start with one', () => {
    const a = new PidAnnouncement();
    expect(feed(a, Buffer.from('hello\nworld\n'), 4)).toBe('hello\nworld\n');
    expect(a.pid).toBeNull();
    const long = new PidAnnouncement();
    const text = 'x'.repeat(300);
    expect(feed(long, Buffer.from(text), 50)).toBe(text);
  });
});
