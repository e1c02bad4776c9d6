import type { Readable, Writable } from 'node:stream';

/**
 * Copies Docker's multiplexed exec output (8-byte frame headers: 1 stdout, 2 stderr) to two writables,
 * pausing the source while either is full: `cat` of a large file goes at the client's pace instead of
 * piling up in memory. Resolves when the source ends.
 */
export function demultiplex(source: Readable, stdout: Writable, stderr: Writable): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  const waiting = new Set<Writable>();
  return new Promise((resolve, reject) => {
    source.on('data', (chunk: Buffer) => {
      pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      let full = false;
      while (pending.length >= 8) {
        const size = pending.readUInt32BE(4);
        if (pending.length < 8 + size) break;
        const target = pending[0] === 2 ? stderr : stdout;
        if (!target.write(pending.subarray(8, 8 + size)) && !waiting.has(target)) {
          // One drain listener per pause and writable, not one per frame written while full.
          full = true;
          waiting.add(target);
          target.once('drain', () => {
            waiting.delete(target);
            if (waiting.size === 0) source.resume();
          });
        } else if (waiting.has(target)) {
          full = true;
        }
        pending = pending.subarray(8 + size);
      }
      pending = Buffer.from(pending);
      if (full) source.pause();
    });
    // 'end', not 'close': a paused socket can be closed with data still to be read from its buffer.
    source.once('end', () => resolve());
    source.once('error', reject);
  });
}
