import type { Logger } from 'pino';
import type ssh2 from 'ssh2';
import type { Services } from '../access/services.js';
import { type EndedSession, recordSession } from '../terminal/record-session.js';
import type { LoginName } from './login-name.js';
import type { JumpUser } from './targets.js';

export type Channel = ssh2.ServerChannel;

export interface Pty {
  cols: number;
  rows: number;
  term: string;
}

/** Who a session is for, and what it needs of its connection. */
export interface SessionContext {
  user: JumpUser;
  login: LoginName;
  ip: string | null;
  log: Logger;
  /** Marks the connection active: output counts, not only input. */
  touch: () => void;
  /** Resolves when the session's client is gone, or its access ended: time to hang up. */
  gone: Promise<void>;
}

/** What an interactive session needs of its terminal. */
export interface TerminalHooks {
  /** The client's terminal as last asked for (`pty-req`, then `window-change`), if it asked. */
  pty: () => Pty | null;
  /** Sets what a `window-change` does. */
  onResize: (fn: (cols: number, rows: number) => void) => void;
}

/** The session in its instance's history, as the web terminal's are (`via: 'ssh'`). */
export function recordSshSession(
  services: Services,
  context: SessionContext,
  session: Omit<EndedSession, 'user' | 'via' | 'ip'>,
): Promise<void> {
  return recordSession(services, context.log, { ...session, user: context.user, via: 'ssh', ip: context.ip });
}

/** Says the last words on the channel, passes the exit status, and closes it. */
export function finish(channel: Channel, code: number, message = ''): void {
  if (message) channel.write(message);
  channel.exit(code);
  channel.end();
}

/** As `finish`, the words on stderr: a command's stdout is its data (scp reads it). */
export function finishErr(channel: Channel, code: number, message: string): void {
  channel.stderr.write(message);
  channel.exit(code);
  channel.end();
}
