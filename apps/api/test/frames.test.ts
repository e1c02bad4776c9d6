import { PassThrough, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { demultiplex } from '../src/jumpbox/frames.js';

/** Docker's multiplexed framing: 1 stdout, 2 stderr, then the payload's length. */
function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** A writable that records each write, and can be made slow (full after every write). */
function sink(name: string, log: { to: string; bytes: Buffer }[], slow = false) {
  return new Writable({
    highWaterMark: slow ? 1 : 1 << 20,
    write(chunk: Buffer, _enc, done) {
      log.push({ to: name, bytes: Buffer.from(chunk) });
      if (slow) setImmediate(done);
      else done();
    },
  });
}

/** Runs of consecutive bytes per output, in order: what a reader of the two outputs sees. */
function runs(parts: { to: string; bytes: Buffer }[]): { to: string; bytes: string }[] {
  const out: { to: string; bytes: Buffer[] }[] = [];
  for (const p of parts) {
    if (p.bytes.length === 0) continue;
    const last = out.at(-1);
    if (last?.to === p.to) last.bytes.push(p.bytes);
    else out.push({ to: p.to, bytes: [p.bytes] });
  }
  return out.map((r) => ({ to: r.to, bytes: Buffer.concat(r.bytes).toString('hex') }));
}

describe('demultiplexing Docker exec output onto an SSH channel', () => {
  it('delivers every byte to the right output, in order, however the frames are cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            stream: fc.constantFrom<1 | 2>(1, 2),
            size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 4000, max: 70_000 })),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.array(fc.integer({ min: 1, max: 90_000 }), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        async (frames, cuts, slow) => {
          const sent = frames.map((f, i) => ({
            to: f.stream === 1 ? 'out' : 'err',
            bytes: Buffer.alloc(f.size, i % 251),
          }));
          const wire = Buffer.concat(frames.map((f, i) => frame(f.stream, sent[i]!.bytes)));
          const log: { to: string; bytes: Buffer }[] = [];
          const source = new PassThrough();
          const out = sink('out', log, slow);
          const err = sink('err', log, slow);
          const done = demultiplex(source, out, err);
          let at = 0;
          for (let i = 0; at < wire.length; i++) {
            const n = cuts[i % cuts.length]!;
            source.write(wire.subarray(at, at + n));
            at += n;
          }
          source.end();
          await done;
          // As the jumpbox does next: the channel is ended, and so flushed.
          await Promise.all([finished(out.end()), finished(err.end())]);
          const bytesOf = (parts: { to: string; bytes: Buffer }[], to: string) =>
            Buffer.concat(parts.filter((p) => p.to === to).map((p) => p.bytes)).toString('hex');
          expect(bytesOf(log, 'out')).toBe(bytesOf(sent, 'out'));
          expect(bytesOf(log, 'err')).toBe(bytesOf(sent, 'err'));
          // The two outputs are separate streams, each with its own queue (as an SSH channel's
          // stdout and stderr are); while neither is held up, their order is the frames' order too.
          if (!slow) expect(runs(log)).toEqual(runs(sent));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gathers small frames into few writes: a stream of 4 KiB pipe pages is not sent page by page', async () => {
    const log: { to: string; bytes: Buffer }[] = [];
    const source = new PassThrough();
    const done = demultiplex(source, sink('out', log), sink('err', log));
    const page = Buffer.alloc(4096, 7);
    source.end(Buffer.concat(Array.from({ length: 256 }, () => frame(1, page))));
    await done;
    expect(Buffer.concat(log.map((l) => l.bytes)).length).toBe(256 * 4096);
    // 1 MiB in 32 KiB writes: 32, where frame by frame would be 256.
    expect(log.length).toBe(32);
  });

  it('does not hold back a short line until more comes: a prompt shows while the command waits', async () => {
    const log: { to: string; bytes: Buffer }[] = [];
    const source = new PassThrough();
    void demultiplex(source, sink('out', log), sink('err', log));
    source.write(frame(1, Buffer.from('password: ')));
    await new Promise((r) => setTimeout(r, 20));
    expect(log.map((l) => l.bytes.toString())).toEqual(['password: ']);
    source.destroy();
  });

  it('holds about what it was sent while the client is stalled, not a gathering buffer per line', async () => {
    // A channel whose window is used up: nothing handed to it goes out.
    const stuck = new Writable({ highWaterMark: 2 * 1024 * 1024, write() {} });
    const source = new PassThrough();
    void demultiplex(source, stuck, stuck);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 3000; i++) {
      // A progress line per turn of the event loop, as a training job prints them.
      source.write(frame(1, Buffer.from('progress 42%\r')));
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }
    expect(stuck.writableLength).toBe(3000 * 13);
    // 39 KB queued; a 32 KiB buffer kept per line would be about 98 MB.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(10 * 1024 * 1024);
    source.destroy();
  });

  it('pauses the source while the channel is full, so a fast command does not pile up in memory', async () => {
    const source = new PassThrough({ highWaterMark: 64 * 1024 });
    let mostHeld = 0;
    let received = 0;
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, done) {
        received += chunk.length;
        setTimeout(done, 1);
      },
    });
    const done = demultiplex(source, slow, slow);
    const chunk = frame(1, Buffer.alloc(60_000, 1));
    // A producer that waits when told to, as Docker's socket does.
    for (let i = 0; i < 100; i++) {
      if (!source.write(chunk)) await new Promise((r) => source.once('drain', r));
      mostHeld = Math.max(mostHeld, slow.writableLength);
    }
    source.end();
    await done;
    await finished(slow.end());
    expect(received).toBe(100 * 60_000);
    // Without pausing, the channel's buffer would grow towards the whole 6 MB.
    expect(mostHeld).toBeLessThan(256 * 1024);
  });
});
