import type { Services } from '../access/services.js';
import { LineEditor } from './line-editor.js';
import { PROMPT, readChoice, renderMenu } from './menu.js';
import { type Channel, finish, type SessionContext, type TerminalHooks } from './session.js';
import { shellSession } from './shell-session.js';
import { menuEntries, routeTarget, stillAllowed } from './targets.js';

/** An interactive session: the menu, or straight into the instance the login named. */
export async function menuSession(
  services: Services,
  channel: Channel,
  context: SessionContext,
  terminal: TerminalHooks,
): Promise<void> {
  const { pool } = services;
  const { user, login } = context;
  if (login.instance) {
    const target = await routeTarget(pool, user, login.instance);
    if (!target) return finish(channel, 1, `No instance ${login.instance.name} of yours.\r\n`);
    return shellSession(services, channel, context, target, terminal);
  }
  const entries = await menuEntries(pool, user);
  if (entries.length === 0) {
    return finish(
      channel,
      0,
      'You have no instances with a container yet. Create one in the web app or with `tianqi instance create`.\r\n',
    );
  }
  channel.write(
    `Signed in as ${user.username}${user.role === 'admin' ? ' (admin: every instance)' : ''}.\r\n`,
  );
  channel.write(renderMenu(entries, user.role === 'admin'));
  channel.write(PROMPT);
  const editor = new LineEditor();
  const typed: { rest: Buffer } = { rest: Buffer.alloc(0) };
  for (;;) {
    let line: string | null = null;
    // Lines already typed (piped) are read before waiting for more.
    const queued = typed.rest.length > 0 ? editor.feed(typed.rest) : [];
    typed.rest = Buffer.alloc(0);
    const ready = queued.find((e) => e.kind === 'line' || e.kind === 'eof');
    for (const e of queued) channel.write(e.output);
    if (ready?.kind === 'line') {
      line = ready.line;
      typed.rest = ready.rest;
    } else if (!ready) {
      line = await nextLine(channel, editor, typed);
    }
    if (line === null) return finish(channel, 0, 'Bye.\r\n');
    if (line === '') {
      channel.write(PROMPT);
      continue;
    }
    const choice = readChoice(line, entries.length);
    if (choice.kind === 'quit') return finish(channel, 0, 'Bye.\r\n');
    if (choice.kind === 'bad') {
      channel.write(`${choice.message}${PROMPT}`);
      continue;
    }
    const entry = await stillAllowed(pool, user, entries[choice.index]!.instanceId);
    if (entry?.observed !== 'running') {
      const state = entry ? entry.observed : 'gone';
      channel.write(
        `${entries[choice.index]!.name} is ${state}, not running: start it first (tianqi instance start ${entries[choice.index]!.name}).\r\n${PROMPT}`,
      );
      continue;
    }
    return shellSession(services, channel, context, entry, terminal, typed.rest);
  }
}

/**
 * The next line typed at the menu, or null when the client is done (EOF, ^D, closed). What was typed
 * after it (a pasted or piped script) is kept in `typed` for the shell.
 */
function nextLine(channel: Channel, editor: LineEditor, typed: { rest: Buffer }): Promise<string | null> {
  return new Promise((resolve) => {
    const onData = (data: Buffer) => {
      for (const event of editor.feed(data)) {
        channel.write(event.output);
        if (event.kind === 'line') {
          typed.rest = event.rest;
          return done(event.line);
        }
        if (event.kind === 'eof') return done(null);
        if (event.kind === 'cancel') channel.write(PROMPT);
      }
    };
    const onEnd = () => done(null);
    const done = (line: string | null) => {
      channel.pause();
      channel.off('data', onData);
      channel.off('end', onEnd);
      channel.off('close', onEnd);
      resolve(line);
    };
    channel.on('data', onData);
    channel.once('end', onEnd);
    channel.once('close', onEnd);
    channel.resume();
  });
}
