import { setFlagsFromString } from 'node:v8';

/**
 * How far past its live data the server's heap may grow before V8 collects it fully, in percent.
 * Left to itself, V8 lets a busy process's heap grow to up to four times its live data (on a
 * machine with memory to spare): the API bench's server held 303 MB of heap for 144 MB live, 499 MB
 * resident; with 30 % it held 135 MB of heap, 316 MB resident, with no slower lists or creates
 * (`npm run bench` in apps/api, the RSS rows). It is no ceiling: a larger fleet's live data may grow
 * as it needs, unlike `--max-old-space-size`, which ends the process when reached.
 */
export const HEAP_GROWING_PERCENT = 30;

/**
 * What `npm start` gives node before the server's code (package.json's start script; the test keeps
 * them the same; the `tianqi-server` bin keeps a plain `#!/usr/bin/env node`, since `env -S` is not
 * everywhere, so started otherwise it takes NODE_OPTIONS, as the README says): a young generation of
 * 8 MB semi-spaces instead of V8's 16. Its size is fixed when node starts, so it
 * cannot be set here like the growth above; it was 32 of the bench server's 316 MB, and 16 serves
 * its lists and creates no slower (`npm run bench` in apps/api).
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=8'];

/** A V8 memory flag the person starting the server gave on node's command line or in NODE_OPTIONS. */
const OWN_FLAGS = /--(heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size|max[-_]heap[-_]size)\b/;

/**
 * Bounds the heap's growth as above, unless whoever started the server set its memory with a flag of
 * their own (theirs wins). V8 reads this flag at every collection, so setting it once the process
 * runs takes effect, where a heap size limit set now would not.
 */
export function boundHeapGrowth(
  percent = HEAP_GROWING_PERCENT,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): boolean {
  if (OWN_FLAGS.test(execArgv.join(' ')) || OWN_FLAGS.test(nodeOptions)) return false;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return true;
}
