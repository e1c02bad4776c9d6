/** What a key press at the menu prompt comes to. */
export type LineEvent =
  | { kind: 'echo'; output: string }
  /** `rest`: what came after the line in the same read, for whatever reads next (the shell). */
  | { kind: 'line'; line: string; output: string; rest: Buffer }
  | { kind: 'cancel'; output: string }
  | { kind: 'eof'; output: string };

const MAX_LINE = 64;

/**
 * A small line editor for the menu prompt, over raw terminal bytes: printable characters are echoed,
 * Backspace (DEL or ^H) rubs out one character, ^U the whole line, ^C cancels the line, ^D on an empty
 * line means "no more", Enter hands the line over. Escape sequences (arrow keys) are ignored.
 */
export class LineEditor {
  #line = '';
  #escape = false;

  feed(bytes: Buffer): LineEvent[] {
    const events: LineEvent[] = [];
    let echo = '';
    const flush = () => {
      if (echo) events.push({ kind: 'echo', output: echo });
      echo = '';
    };
    const text = bytes.toString('utf8');
    let offset = 0;
    for (const ch of text) {
      offset += ch.length;
      const code = ch.codePointAt(0)!;
      if (this.#escape) {
        // CSI sequences end with a letter or ~.
        if (/[A-Za-z~]/.test(ch)) this.#escape = false;
        continue;
      }
      if (code === 0x1b) {
        this.#escape = true;
      } else if (code === 0x0d || code === 0x0a) {
        flush();
        // A CR LF pair is one Enter: its LF is not the start of what follows.
        const next = text[offset];
        const skip = code === 0x0d && next === '\n' ? 1 : 0;
        events.push({
          kind: 'line',
          line: this.#line.trim(),
          output: '\r\n',
          rest: Buffer.from(text.slice(offset + skip), 'utf8'),
        });
        this.#line = '';
        return events;
      } else if (code === 0x7f || code === 0x08) {
        if (this.#line.length > 0) {
          this.#line = [...this.#line].slice(0, -1).join('');
          echo += '\b \b';
        }
      } else if (code === 0x15) {
        echo += '\b \b'.repeat([...this.#line].length);
        this.#line = '';
      } else if (code === 0x03) {
        flush();
        this.#line = '';
        events.push({ kind: 'cancel', output: '^C\r\n' });
      } else if (code === 0x04) {
        if (this.#line === '') {
          flush();
          events.push({ kind: 'eof', output: '\r\n' });
        }
      } else if (code >= 0x20 && [...this.#line].length < MAX_LINE) {
        this.#line += ch;
        echo += ch;
      }
    }
    flush();
    return events;
  }
}
