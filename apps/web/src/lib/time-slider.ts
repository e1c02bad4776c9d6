/**
 * The history's time slider moves over the instance's events (one stop each), and shows the instance
 * just after the event of its stop. Events are recorded to the microsecond and come to the browser to
 * the millisecond, so the moment asked for is the next millisecond: the event itself is included.
 */
export function momentAt(times: readonly number[], index: number): number | null {
  if (times.length === 0) return null;
  const i = Math.max(0, Math.min(times.length - 1, Math.round(index)));
  return times[i]! + 1;
}

/** Marks for the first and last stop only (more would crowd a long history). */
export function sliderMarks(times: readonly number[]): Record<number, string> {
  if (times.length < 2) return {};
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  return { 0: hhmm(times[0]!), [times.length - 1]: hhmm(times[times.length - 1]!) };
}
