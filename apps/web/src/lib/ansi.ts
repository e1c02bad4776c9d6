/**
 * A line of terminal output as a screen would show it: SGR colours become styled segments (rendered
 * as text in spans, never as HTML), `\r` and backspace overwrite what was there (a progress bar shows
 * its last state), erase-in-line and cursor moves along the line are followed, and every other
 * control sequence or control character is dropped.
 */

/** The CSS a segment is drawn with (Vue sets each property: nothing is parsed as markup). */
export type SegmentStyle = Partial<
  Record<'color' | 'backgroundColor' | 'fontWeight' | 'fontStyle' | 'textDecoration' | 'opacity', string>
>;
export interface Segment {
  text: string;
  style: SegmentStyle | null;
}

interface Pen {
  fg: string | null;
  bg: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
}
const plainPen: Pen = {
  fg: null,
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
  inverse: false,
};

// xterm.js's default (Tango) palette, so the logs colour as the terminal pane does.
const PALETTE = [
  '#2e3436',
  '#cc0000',
  '#4e9a06',
  '#c4a000',
  '#3465a4',
  '#75507b',
  '#06989a',
  '#d3d7cf',
  '#555753',
  '#ef2929',
  '#8ae234',
  '#fce94f',
  '#729fcf',
  '#ad7fa8',
  '#34e2e2',
  '#eeeeec',
];
const CUBE = [0, 95, 135, 175, 215, 255];
const hex = (n: number) => n.toString(16).padStart(2, '0');
const rgb = (r: number, g: number, b: number) => `#${hex(r)}${hex(g)}${hex(b)}`;

function color256(n: number): string | null {
  if (!Number.isInteger(n) || n < 0 || n > 255) return null;
  if (n < 16) return PALETTE[n]!;
  if (n < 232) {
    const i = n - 16;
    return rgb(CUBE[Math.floor(i / 36)]!, CUBE[Math.floor(i / 6) % 6]!, CUBE[i % 6]!);
  }
  const grey = 8 + 10 * (n - 232);
  return rgb(grey, grey, grey);
}

/** Applies one SGR sequence's parameters ("1;31", "38;5;208", "" = reset) to the pen. */
function applySgr(pen: Pen, params: string): Pen {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  const next = { ...pen };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) Object.assign(next, plainPen);
    else if (c === 1) next.bold = true;
    else if (c === 2) next.dim = true;
    else if (c === 3) next.italic = true;
    else if (c === 4) next.underline = true;
    else if (c === 7) next.inverse = true;
    else if (c === 22) next.bold = next.dim = false;
    else if (c === 23) next.italic = false;
    else if (c === 24) next.underline = false;
    else if (c === 27) next.inverse = false;
    else if (c >= 30 && c <= 37) next.fg = PALETTE[c - 30]!;
    else if (c >= 90 && c <= 97) next.fg = PALETTE[c - 90 + 8]!;
    else if (c >= 40 && c <= 47) next.bg = PALETTE[c - 40]!;
    else if (c >= 100 && c <= 107) next.bg = PALETTE[c - 100 + 8]!;
    else if (c === 39) next.fg = null;
    else if (c === 49) next.bg = null;
    else if (c === 38 || c === 48) {
      // Extended colours: 5;n (256 colours) or 2;r;g;b (true colour).
      let value: string | null = null;
      if (codes[i + 1] === 5) {
        value = color256(codes[i + 2]!);
        i += 2;
      } else if (codes[i + 1] === 2) {
        const [r, g, b] = codes.slice(i + 2, i + 5).map((v) => Math.min(255, Math.max(0, v || 0)));
        value = rgb(r ?? 0, g ?? 0, b ?? 0);
        i += 4;
      }
      if (value) next[c === 38 ? 'fg' : 'bg'] = value;
    }
  }
  return next;
}

function styleOf(pen: Pen): SegmentStyle | null {
  const style: SegmentStyle = {};
  const fg = pen.inverse ? (pen.bg ?? '#101014') : pen.fg;
  const bg = pen.inverse ? (pen.fg ?? '#dddddd') : pen.bg;
  if (fg) style.color = fg;
  if (bg) style.backgroundColor = bg;
  if (pen.bold) style.fontWeight = 'bold';
  if (pen.dim) style.opacity = '0.7';
  if (pen.italic) style.fontStyle = 'italic';
  if (pen.underline) style.textDecoration = 'underline';
  return Object.keys(style).length > 0 ? style : null;
}

// CSI (ESC [ params final), OSC (ESC ] … BEL or ESC \), any other ESC pair, or one C0 control.
const TOKEN =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?|[\x00-\x1f\x7f]/g;

/** One line of raw output as segments of like style, and its visible text (what search and copy use). */
export function parseAnsiLine(raw: string): { text: string; segments: Segment[] } {
  const cells: { ch: string; pen: Pen }[] = [];
  let cursor = 0;
  let pen = plainPen;
  const write = (text: string) => {
    for (const ch of text) {
      // Past the end (after a cursor move forward) the gap is blank.
      while (cells.length < cursor) cells.push({ ch: ' ', pen: plainPen });
      cells[cursor++] = { ch, pen };
    }
  };
  let at = 0;
  for (const m of raw.matchAll(TOKEN)) {
    write(raw.slice(at, m.index));
    at = m.index + m[0].length;
    const token = m[0];
    if (token === '\r') cursor = 0;
    else if (token === '\b') cursor = Math.max(0, cursor - 1);
    else if (token === '\t') write('\t');
    else if (m[2] !== undefined) {
      const params = m[1] ?? '';
      const n = Math.max(1, Number.parseInt(params, 10) || 1);
      if (m[2] === 'm') pen = applySgr(pen, params);
      else if (m[2] === 'K') {
        // Erase in line: to the end (0), from the start (1), or all of it (2).
        if (params === '' || params === '0') cells.length = Math.min(cells.length, cursor);
        else if (params === '1')
          for (let i = 0; i <= cursor && i < cells.length; i++) cells[i] = { ch: ' ', pen: plainPen };
        else if (params === '2') cells.length = 0;
      } else if (m[2] === 'G') cursor = n - 1;
      else if (m[2] === 'C') cursor += n;
      else if (m[2] === 'D') cursor = Math.max(0, cursor - n);
    }
  }
  write(raw.slice(at));

  const segments: Segment[] = [];
  let last: Pen | null = null;
  for (const cell of cells) {
    if (cell.pen === last) segments.at(-1)!.text += cell.ch;
    else segments.push({ text: cell.ch, style: styleOf(cell.pen) });
    last = cell.pen;
  }
  return { text: cells.map((c) => c.ch).join(''), segments };
}

/**
 * The segments split where `ranges` (start/end offsets into the visible text) begin and end, each
 * part marked when inside one: search highlights that keep the colours.
 */
export function markRanges(
  segments: readonly Segment[],
  ranges: readonly [number, number][],
): (Segment & { match: boolean })[] {
  const out: (Segment & { match: boolean })[] = [];
  let offset = 0;
  for (const seg of segments) {
    const end = offset + seg.text.length;
    const cuts = new Set([offset, end]);
    for (const [a, b] of ranges) {
      if (a > offset && a < end) cuts.add(a);
      if (b > offset && b < end) cuts.add(b);
    }
    const points = [...cuts].sort((x, y) => x - y);
    for (let i = 0; i + 1 < points.length; i++) {
      const [from, to] = [points[i]!, points[i + 1]!];
      const match = ranges.some(([a, b]) => from >= a && to <= b);
      out.push({ text: seg.text.slice(from - offset, to - offset), style: seg.style, match });
    }
    offset = end;
  }
  return out;
}
