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

  it('is found after input a TTY echoed ahead of it', () => {
    const a = new PidAnnouncement();
    expect(feed(a, Buffer.from('ls\r\ntianqi-pid:99\r\n$ '), 5)).toBe('ls\r\n$ ');
    expect(a.pid).toBe('99');
  });

  it('gives up after the first 256 bytes, and passes everything on unchanged', async () => {
    const a = new PidAnnouncement();
    expect(a.take(Buffer.from('hello\n'))).toHaveLength(0);
    const rest = 'x'.repeat(300);
    // What was held back comes out first, then the rest: nothing lost, nothing doubled.
    expect(feed(a, Buffer.from(rest), 50)).toBe(`hello\n${rest}`);
    expect(a.pid).toBeNull();
    await a.settled;
  });
});
