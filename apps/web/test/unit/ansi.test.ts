import { describe, expect, it } from 'vitest';
import { markRanges, parseAnsiLine } from '../../src/lib/ansi.js';
import { matchRanges, screenLine } from '../../src/lib/log-search.js';

describe('terminal output in the logs', () => {
  it('turns SGR colours into styled segments and resets them', () => {
    const { text, segments } = parseAnsiLine('\x1b[1;31mError:\x1b[0m disk \x1b[32mfull\x1b[m!');
    expect(text).toBe('Error: disk full!');
    expect(segments).toEqual([
      { text: 'Error:', style: { color: '#cc0000', fontWeight: 'bold' } },
      { text: ' disk ', style: null },
      { text: 'full', style: { color: '#4e9a06' } },
      { text: '!', style: null },
    ]);
  });

  it('reads 256 colours, true colour, bright and background colours', () => {
    const seg = (raw: string) => parseAnsiLine(raw).segments[0]?.style;
    expect(seg('\x1b[38;5;196mx')).toEqual({ color: '#ff0000' });
    expect(seg('\x1b[38;5;244mx')).toEqual({ color: '#808080' });
    expect(seg('\x1b[38;2;1;2;3mx')).toEqual({ color: '#010203' });
    expect(seg('\x1b[94;41mx')).toEqual({ color: '#729fcf', backgroundColor: '#cc0000' });
  });

  it('shows a progress line as it last stood: \\r and erase overwrite', () => {
    expect(parseAnsiLine('  0%\r 50%\r100% done').text).toBe('100% done');
    expect(parseAnsiLine('downloading 10 MB\r\x1b[Kdone').text).toBe('done');
    // Without an erase the longer earlier state shows through, as on a terminal.
    expect(parseAnsiLine('abcdef\rXY').text).toBe('XYcdef');
    // A TTY's line end (\r before the \n the lines were split at) takes nothing away.
    expect(parseAnsiLine('hello\r').text).toBe('hello');
    expect(parseAnsiLine('ab\bc').text).toBe('ac');
  });

  it('drops every other control sequence and character', () => {
    const raw = '\x1b]0;title\x07\x1b[?25l\x1b(Bok\x07\x00 \x1b[2Jfine\x1b[?25h';
    expect(parseAnsiLine(raw).text).toBe('ok fine');
    expect(parseAnsiLine('tab\tkept').text).toBe('tab\tkept');
  });

  it('keeps the colours where a search match falls across them', () => {
    const line = screenLine({ stream: 'stdout', time: null, text: '\x1b[31mERR\x1b[0mOR here' });
    expect(line.text).toBe('ERROR here');
    expect(markRanges(line.segments, matchRanges(line.text, 'rro'))).toEqual([
      { text: 'E', style: { color: '#cc0000' }, match: false },
      { text: 'RR', style: { color: '#cc0000' }, match: true },
      { text: 'O', style: null, match: true },
      { text: 'R here', style: null, match: false },
    ]);
  });
});
