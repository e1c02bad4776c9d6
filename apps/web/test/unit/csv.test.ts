import { describe, expect, it } from 'vitest';
import { csvCell, csvText } from '../../src/lib/csv.js';

describe('usage rows as CSV', () => {
  it('quotes what needs quoting and defuses formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(csvCell(null)).toBe('');
    expect(csvCell(2.5)).toBe('2.5');
  });

  it('writes a header and rows ended by CRLF', () => {
    expect(
      csvText(
        ['用户', 'cost'],
        [
          ['alice', 1.5],
          ['b,c', 0],
        ],
      ),
    ).toBe('用户,cost\r\nalice,1.5\r\n"b,c",0\r\n');
  });
});
