/** A line of container output as the API gives it. */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  time: string | null;
  text: string;
}

/** The indices of the lines that contain `query` (ignoring case); none for an empty query. */
export function matchingLines(lines: readonly LogLine[], query: string): number[] {
  const q = query.trim().toLowerCase();
  if (q === '') return [];
  const out: number[] = [];
  lines.forEach((line, i) => {
    if (line.text.toLowerCase().includes(q)) out.push(i);
  });
  return out;
}

/** The match after (or before) the current one, wrapping around: what next/previous go to. */
export function stepMatch(count: number, current: number, direction: 1 | -1): number {
  if (count === 0) return -1;
  if (current < 0) return direction === 1 ? 0 : count - 1;
  return (current + direction + count) % count;
}

/** Splits a line's text around the matches of `query`, for highlighting. */
export function highlight(text: string, query: string): { text: string; match: boolean }[] {
  const q = query.trim();
  if (q === '') return [{ text, match: false }];
  const parts: { text: string; match: boolean }[] = [];
  const lower = text.toLowerCase();
  const needle = q.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
    if (i > at) parts.push({ text: text.slice(at, i), match: false });
    parts.push({ text: text.slice(i, i + q.length), match: true });
    at = i + q.length;
  }
  if (at < text.length) parts.push({ text: text.slice(at), match: false });
  return parts;
}

/** The lines as a text file to download (with their timestamps when shown). */
export function asText(lines: readonly LogLine[], withTime: boolean): string {
  return lines.map((l) => (withTime && l.time ? `${l.time} ${l.text}` : l.text)).join('\n');
}
