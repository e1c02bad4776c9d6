import { readFileSync } from 'node:fs';

// What /proc says of a process and of the machine: the CPU figures benches put beside their
// latencies (cheaper than a profiler, and less sensitive to a busy machine than the wall clock).
// /proc counts CPU in clock ticks of 10 ms (USER_HZ is 100 on Linux).
const TICK_MS = 10;

/** CPU time of a process (user + system) so far, in ms. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields from after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** Busy and total clock ticks of all cores together so far, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  // user … steal; guest and guest_nice (9th and 10th) are already counted in user and nice.
  const ticks = fields.slice(0, 8).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total };
}

/** Busy CPU time of the whole machine so far, all cores, in ms. */
export const machineBusyMs = (): number => machineTicks().busy * TICK_MS;

/** A process's resident memory now (VmRSS) and at its peak (VmHWM), in MB. */
export function processMemoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}
