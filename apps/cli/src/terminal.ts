import WebSocket from 'ws';
import { z } from 'zod';
import { CliError, EXIT } from './command.js';

/** The server's text frames: the shell's exit code, or why it could not start. */
const controlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('exit'), code: z.number().int().nullable() }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);

/** Piped input waits this long at most for the shell's first output (its prompt) before it is sent. */
const PROMPT_WAIT_MS = 2_000;

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, Math.round(n)));

/**
 * The terminal's size: the real one on a terminal, else $COLUMNS × $LINES, else 80 × 24 (what a
 * script gets, so `stty size` in piped input is predictable). Clamped to what the server accepts.
 */
export function terminalSize(): { cols: number; rows: number } {
  const out = process.stdout;
  const env = (name: string) => {
    const n = Number(process.env[name]);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const cols = (out.isTTY ? out.columns : undefined) ?? env('COLUMNS') ?? 80;
  const rows = (out.isTTY ? out.rows : undefined) ?? env('LINES') ?? 24;
  return { cols: clamp(cols, 10, 1000), rows: clamp(rows, 2, 500) };
}

/**
 * A shell in the instance over the terminal WebSocket: binary frames are raw TTY bytes both ways,
 * `{"type":"resize"}` follows the local window. On a terminal, stdin goes raw (Ctrl-C reaches the
 * remote shell); otherwise piped stdin is sent as typed input, followed by an end-of-file (Ctrl-D) so
 * a script without `exit` still ends. Resolves with the shell's exit code.
 */
export function openTerminal(server: string, token: string, instanceId: string): Promise<number> {
  const size = terminalSize();
  const url = new URL(`${server}/api/instances/${encodeURIComponent(instanceId)}/terminal`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('cols', String(size.cols));
  url.searchParams.set('rows', String(size.rows));
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;

  return new Promise<number>((resolve, reject) => {
    let exitCode: number | null = null;
    let serverError: string | null = null;
    let settled = false;
    let sentLast = '\n';
    let sawOutput: () => void = () => {};
    const firstOutput = new Promise<void>((r) => {
      sawOutput = r;
    });

    const send = (bytes: Buffer | string) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      if (buf.length > 0) sentLast = String.fromCharCode(buf[buf.length - 1]!);
      ws.send(buf, { binary: true });
    };
    const sendSize = () => {
      const { cols, rows } = terminalSize();
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }));
    };
    const onInput = (chunk: Buffer) => send(chunk);
    const onInputEnd = () => {
      if (sentLast !== '\n') send('\n');
      send('\u0004'); // Ctrl-D: end of input for the shell, as when a file is piped into `sh`
    };

    const finish = (outcome: { code: number } | { error: CliError }) => {
      if (settled) return;
      settled = true;
      stdin.off('data', onInput);
      stdin.off('end', onInputEnd);
      process.stdout.off('resize', sendSize);
      if (tty) stdin.setRawMode(false);
      // Piped input may still be open (a producer that never ends): it must not keep us alive.
      stdin.pause();
      stdin.destroy();
      if ('code' in outcome) resolve(outcome.code);
      else reject(outcome.error);
    };

    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        let message = `the server refused the terminal (HTTP ${res.statusCode})`;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? message;
        } catch {
          // not JSON: keep the status line
        }
        finish({ error: new CliError(message, res.statusCode === 401 ? EXIT.signedOut : EXIT.failed) });
        ws.terminate();
      });
    });
    ws.on('error', (err) =>
      finish({ error: new CliError(`the terminal connection failed: ${err.message}`) }),
    );

    ws.on('open', () => {
      if (tty) {
        stdin.setRawMode(true);
        stdin.resume();
        stdin.on('data', onInput);
        process.stdout.on('resize', sendSize);
        return;
      }
      // Typed-ahead input would reach the TTY before the shell runs; it would keep it, but waiting for
      // the prompt makes the output read in order, as if typed.
      const timer = setTimeout(sawOutput, PROMPT_WAIT_MS);
      void firstOutput.then(() => {
        clearTimeout(timer);
        if (settled) return;
        stdin.on('data', onInput);
        stdin.once('end', onInputEnd);
        stdin.resume();
      });
    });

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        process.stdout.write(data);
        sawOutput();
        return;
      }
      const parsed = controlSchema.safeParse(safeJson(data.toString('utf8')));
      if (!parsed.success) return;
      if (parsed.data.type === 'exit') exitCode = parsed.data.code ?? EXIT.failed;
      else serverError = parsed.data.message;
    });

    ws.on('close', (code, reason) => {
      if (exitCode !== null) return finish({ code: exitCode });
      if (serverError !== null) return finish({ error: new CliError(serverError) });
      if (code === 1000) return finish({ code: 0 });
      const why = reason.toString('utf8');
      finish({ error: new CliError(`the terminal closed (${code}${why ? `: ${why}` : ''})`) });
    });
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
