import { markRanges, parseAnsiLine, type Segment } from './ansi.js';

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

/** Where `query` occurs in `text` (ignoring case), as [start, end) offsets. */
export function matchRanges(text: string, query: string): [number, number][] {
  const needle = query.trim().toLowerCase();
  if (needle === '') return [];
  const lower = text.toLowerCase();
  const out: [number, number][] = [];
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, i + needle.length))
    out.push([i, i + needle.length]);
  return out;
}

/** Splits a line's text around the matches of `query`, for highlighting. */
export function highlight(text: string, query: string): { text: string; match: boolean }[] {
  return markRanges([{ text, style: null }], matchRanges(text, query)).map(({ text, match }) => ({
    text,
    match,
  }));
}

/** A line as the screen shows it: the visible text (searched, downloaded) and its coloured segments. */
export type ScreenLine = LogLine & { segments: Segment[] };

export function screenLine(line: LogLine): ScreenLine {
  return { ...line, ...parseAnsiLine(line.text) };
}

/** The lines as a text file to download (with their timestamps when shown). */
export function asText(lines: readonly LogLine[], withTime: boolean): string {
  return lines.map((l) => (withTime && l.time ? `${l.time} ${l.text}` : l.text)).join('\n');
}
