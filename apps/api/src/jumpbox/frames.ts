import type { Readable, Writable } from 'node:stream';

/**
 * Bytes gathered before a write: each write to the SSH channel becomes a packet of its own (or several,
 * 32 KiB each with OpenSSH), and Docker's frames are often a 4 KiB pipe page each, so writing frame by
 * frame would send several times the packets (each padded, encrypted and written on its own).
 */
const GATHER = 32 * 1024;

/**
 * Copies Docker's multiplexed exec output (8-byte frame headers: 1 stdout, 2 stderr) to two writables.
 * Frames are not waited for whole: their bytes are gathered, in order, into writes of up to `gather`
 * bytes, and what is left is written once the source has nothing more at hand (before the event loop
 * waits), so a prompt or a short line is not held back. The source is paused while either writable is
 * full: `cat` of a large file goes at the client's pace instead of piling up in memory. Resolves when
 * the source ends, everything written.
 */
export function demultiplex(
  source: Readable,
  stdout: Writable,
  stderr: Writable,
  gather = GATHER,
): Promise<void> {
  const header = Buffer.alloc(8);
  let headerUsed = 0;
  let left = 0; // bytes of the current frame still to come
  let target = stdout;
  // Bytes are gathered in `box` from `start` to `end`. A write hands out that part and the box stays
  // in use until full, so many small writes share one box: what a stalled client holds up in memory
  // is about what it was sent, not a 32 KiB box per line.
  let box: Buffer | null = null;
  let start = 0;
  let end = 0;
  let flushLater: NodeJS.Immediate | null = null;
  const waiting = new Set<Writable>();

  const write = (to: Writable, bytes: Buffer) => {
    if (to.write(bytes) || waiting.has(to)) return;
    waiting.add(to);
    source.pause();
    to.once('drain', () => {
      waiting.delete(to);
      if (waiting.size === 0) source.resume();
    });
  };
  const flush = () => {
    if (flushLater) clearImmediate(flushLater);
    flushLater = null;
    if (box && end > start) write(target, box.subarray(start, end));
    start = end;
    if (end === gather) {
      box = null;
      start = end = 0;
    }
  };
  const take = (bytes: Buffer) => {
    // A large piece goes as it is (no copy, no allocation); small ones are gathered.
    if (bytes.length >= gather / 4) {
      flush();
      return write(target, bytes);
    }
    let at = 0;
    while (at < bytes.length) {
      box ??= Buffer.allocUnsafe(gather);
      const n = bytes.copy(box, end, at);
      end += n;
      at += n;
      if (end === gather) flush();
    }
  };

  return new Promise((resolve, reject) => {
    source.on('data', (chunk: Buffer) => {
      let at = 0;
      while (at < chunk.length) {
        if (left === 0) {
          const n = Math.min(8 - headerUsed, chunk.length - at);
          chunk.copy(header, headerUsed, at, at + n);
          headerUsed += n;
          at += n;
          if (headerUsed < 8) break;
          headerUsed = 0;
          left = header.readUInt32BE(4);
          const next = header[0] === 2 ? stderr : stdout;
          // Order across the two outputs is kept: what was gathered for the other goes first.
          if (next !== target) flush();
          target = next;
          continue;
        }
        const n = Math.min(left, chunk.length - at);
        take(chunk.subarray(at, at + n));
        left -= n;
        at += n;
      }
      if (end > start && !flushLater) flushLater = setImmediate(flush);
    });
    // 'end', not 'close': a paused socket can be closed with data still to be read from its buffer.
    source.once('end', () => {
      flush();
      resolve();
    });
    source.once('error', (err) => {
      if (flushLater) clearImmediate(flushLater);
      reject(err);
    });
  });
}
