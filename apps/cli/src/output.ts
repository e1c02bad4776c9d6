import type { Call } from './command.js';

type Cell = string | number | boolean | null | undefined;

/** Columns a terminal gives two cells to: CJK, Hangul and full-width forms (names may be Chinese). */
const WIDE = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u;

export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += WIDE.test(ch) || (ch.codePointAt(0) ?? 0) >= 0x20000 ? 2 : 1;
  return width;
}

/**
 * Text that came from users (names, remarks, log lines, messages) made safe to print: control
 * characters (an escape sequence could move the cursor, retitle the window or worse), DEL, C1 codes
 * and the bidirectional overrides that reorder a line are shown as `\x1b`-style escapes. Tabs stay,
 * and so do line breaks unless `oneLine` (a table cell). `--json` output is never passed through it.
 */
export function visible(text: string, oneLine = false): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g,
    (ch) => {
      if (ch === '\n' && !oneLine) return ch;
      const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\u001b': '\\x1b' };
      const code = ch.charCodeAt(0);
      return (
        named[ch] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`)
      );
    },
  );
}

const cellText = (c: Cell): string =>
  c === null || c === undefined || c === '' ? '-' : visible(String(c), true);

/** A plain-text table: left-aligned columns two spaces apart, the header in capitals. */
export function table(headers: string[], rows: Cell[][]): string {
  const texts = rows.map((r) => r.map(cellText));
  const widths = headers.map((h, i) =>
    Math.max(displayWidth(h), ...texts.map((r) => displayWidth(r[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - displayWidth(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...texts.map(line)].join('\n');
}

/** `Key:  value` lines for one record. */
export function fields(pairs: [string, Cell][]): string {
  const width = Math.max(...pairs.map(([k]) => displayWidth(k))) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cellText(v)}`).join('\n');
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A time in the reader's zone, to the second (the API sends ISO strings). */
export function when(value: string | Date | null | undefined): string {
  if (value === null || value === undefined) return '-';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export function hours(seconds: number): string {
  return (seconds / 3600).toFixed(2);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The answer as JSON with `--json`, else as the command's human form. */
export function emit<T>(call: Call, value: T, human: (value: T) => string): void {
  if (call.json) printJson(value);
  else {
    const text = visible(human(value));
    if (text !== '') process.stdout.write(`${text}\n`);
  }
}
