import { describe, expect, it } from 'vitest';
import { asText, highlight, type LogLine, matchingLines, stepMatch } from '../../src/lib/log-search.js';

const lines: LogLine[] = ['starting', 'Error: disk full', 'retrying', 'error again'].map((text, i) => ({
  stream: i === 1 ? 'stderr' : 'stdout',
  time: `2026-12-01T00:00:0${i}Z`,
  text,
}));

describe('log search', () => {
  it('finds the lines with the text, ignoring case, and counts them', () => {
    expect(matchingLines(lines, 'error')).toEqual([1, 3]);
    expect(matchingLines(lines, '  ')).toEqual([]);
  });

  it('goes to the next and previous match, round the ends', () => {
    expect(stepMatch(2, -1, 1)).toBe(0);
    expect(stepMatch(2, -1, -1)).toBe(1);
    expect(stepMatch(2, 1, 1)).toBe(0);
    expect(stepMatch(2, 0, -1)).toBe(1);
    expect(stepMatch(0, -1, 1)).toBe(-1);
  });

  it('marks every match in a line', () => {
    expect(highlight('error, Error!', 'error')).toEqual([
      { text: 'error', match: true },
      { text: ', ', match: false },
      { text: 'Error', match: true },
      { text: '!', match: false },
    ]);
  });

  it('downloads the lines as text, with their times when shown', () => {
    expect(asText(lines.slice(0, 2), false)).toBe('starting\nError: disk full');
    expect(asText(lines.slice(0, 1), true)).toBe('2026-12-01T00:00:00Z starting');
  });
});
