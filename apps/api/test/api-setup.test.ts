import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalCode } from '../src/auth/first-run.js';
import { useApi } from './api-fixture.js';
import { until } from './docker-fixture.js';

/** The first run over HTTP: a platform with no admin, set up from the web app with its setup code. */
const api = useApi({
  admin: { username: '', password: '' },
  auth: { 'max-failures': 3, 'lockout-minutes': 1 },
});

/** Another platform with no admin, for setups that must not meet the first one's throttle. */
const untouched = useApi({ admin: { username: '', password: '' } });

interface Answer {
  status: number;
  tianqiCode: string | null;
  message: string;
  cookie: string | null;
  data: Record<string, unknown> | null;
}

/** A tRPC call sent from a loopback address of the test's choosing (another client), as a browser makes it. */
function call(
  url: string,
  path: string,
  options: { from?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const { port } = new URL(url);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(port),
        localAddress: options.from ?? '127.0.0.1',
        method: body === undefined ? 'GET' : 'POST',
        path: `/api/trpc/${path}`,
        headers: {
          ...options.headers,
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d));
        res.on('end', () => {
          const parsed = JSON.parse(text) as {
            result?: { data: Record<string, unknown> };
            error?: { message: string; data: { tianqiCode: string | null } };
          };
          const cookie = res.headers['set-cookie']?.[0] ?? null;
          resolve({
            status: res.statusCode ?? 0,
            tianqiCode: parsed.error?.data.tianqiCode ?? null,
            message: parsed.error?.message ?? '',
            cookie,
            data: parsed.result?.data ?? null,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** `auth.setup` from the web app's page at `url`, waiting out the limiter's throttle (not its lockout). */
async function setup(url: string, from: string, code: string, username = 'founder'): Promise<Answer> {
  for (let i = 0; i < 60; i++) {
    const answer = await call(url, 'auth.setup', {
      from,
      body: { code, username, password: 'founder-password' },
      headers: { origin: url },
    });
    if (!(answer.status === 429 && /lately/.test(answer.message))) return answer;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error('the throttle never let the attempt through');
}

const needsSetup = async (url: string) => (await call(url, 'auth.setupStatus')).data?.needsSetup;

describe('the first run: auth.setupStatus and auth.setup', () => {
  it('with no admin, the server made a setup code, wrote it into data-dir (owner only) and kept a digest', async () => {
    const f = api();
    expect(await needsSetup(f.url)).toBe(true);
    const code = f.platform.services.firstRun.code!;
    expect(code).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    const file = join(f.platform.services.config['data-dir'], 'setup-code');
    expect((await readFile(file, 'utf8')).trim()).toBe(code);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const { rows } = await f.platform.database.pool.query<{ code_digest: string }>(
      'SELECT code_digest FROM setup_codes',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.code_digest).not.toContain(normalCode(code));
    // A restart of this server keeps the code it printed before (the file and the row agree).
    expect(await f.platform.services.firstRun.prepare()).toBe(code);
    expect((await f.platform.database.pool.query('SELECT 1 FROM setup_codes')).rowCount).toBe(1);
  });

  it('keeps the CSRF rule of a browser sign-in: another site, or no Origin and no app header, is refused', async () => {
    const f = api();
    const body = { code: f.platform.services.firstRun.code, username: 'evil', password: 'evil-password' };
    const foreign = await call(f.url, 'auth.setup', { body, headers: { origin: 'https://evil.example' } });
    expect([foreign.status, foreign.message]).toEqual([403, 'cross-site request refused']);
    const bare = await call(f.url, 'auth.setup', { body });
    expect(bare.status).toBe(403);
    expect(bare.message).toMatch(/needs its Origin or the x-tianqi-client header/);
    expect(await needsSetup(f.url)).toBe(true);
  });

  it('refuses a wrong code (forbidden, counted by the login limiter), then locks that address out even for the right code', async () => {
    const f = api();
    const wrong = await setup(f.url, '127.0.0.51', 'AAAA-BBBB-CCCC-DDDD');
    expect(wrong).toMatchObject({ status: 403, tianqiCode: 'forbidden', cookie: null });
    expect(wrong.message).toMatch(/^wrong setup code: it is printed on the server's console at start/);
    for (let i = 0; i < 2; i++)
      expect((await setup(f.url, '127.0.0.51', `nope-${i}`)).tianqiCode).toBe('forbidden');
    const locked = await setup(f.url, '127.0.0.51', f.platform.services.firstRun.code!);
    expect(locked.status).toBe(429);
    expect(locked.message).toMatch(/too many failed sign-ins for this user from this address; try again in/);
    expect(await needsSetup(f.url)).toBe(true);
  });

  it('the right code — made by one server, used on another of the same database — makes the admin and signs the browser in; then the setup is gone everywhere', async () => {
    const f = api();
    const code = f.platform.services.firstRun.code!;
    const other = await f.secondServer();
    try {
      const otherCode = other.platform.services.firstRun.code!;
      expect(otherCode).not.toBe(code);
      expect(await needsSetup(other.url)).toBe(true);

      // Typed as people type it: lower case, spaces for dashes.
      const done = await setup(other.url, '127.0.0.52', code.toLowerCase().replaceAll('-', ' '));
      expect(done.status).toBe(200);
      expect(done.data).toMatchObject({ user: { username: 'founder', role: 'admin' } });
      expect(done.data).not.toHaveProperty('token');
      expect(done.cookie).toMatch(
        /^tianqi_session=tq_[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Expires=/,
      );
      const session = done.cookie!.split(';')[0]!;
      const me = await call(other.url, 'auth.me', { headers: { cookie: session } });
      expect(me.data).toMatchObject({ username: 'founder', role: 'admin' });
      const users = await call(f.url, 'users.list', { headers: { cookie: session } });
      expect(users.status).toBe(200);

      // Made by the real command, from that address, and the sign-in recorded as a login's is.
      const { rows } = await f.platform.database.pool.query<{ type: string; actor: string; ip: string }>(
        `SELECT type, metadata->>'actorUserId' AS actor, metadata->>'actorIp' AS ip FROM events
         WHERE type IN ('UserRegistered', 'LoginSucceeded') ORDER BY position`,
      );
      expect(rows).toEqual([
        { type: 'UserRegistered', actor: 'system:setup', ip: '127.0.0.52' },
        { type: 'LoginSucceeded', actor: 'system:auth', ip: '127.0.0.52' },
      ]);

      // Every code and both files are gone; both servers answer that the platform is set up.
      expect((await f.platform.database.pool.query('SELECT 1 FROM setup_codes')).rowCount).toBe(0);
      for (const platform of [f.platform, other.platform]) {
        await until('the setup code file to go', async () => !existsSync(platform.services.firstRun.file));
        expect(platform.services.firstRun.code).toBeNull();
      }
      expect(await needsSetup(f.url)).toBe(false);
      expect(await needsSetup(other.url)).toBe(false);
      for (const [url, again] of [
        [f.url, code],
        [other.url, otherCode],
        [f.url, 'wrong-code'],
      ] as const) {
        const refused = await setup(url, '127.0.0.53', again, 'second');
        expect([refused.status, refused.tianqiCode, refused.message]).toEqual([
          409,
          'conflict',
          'the platform is set up already: sign in',
        ]);
      }
    } finally {
      await other.close();
    }
  });

  it('two setups at once with the right code make one admin: the other is told it is set up already', async () => {
    const f = untouched();
    const code = f.platform.services.firstRun.code!;
    const answers = await Promise.all([
      setup(f.url, '127.0.0.54', code, 'first'),
      setup(f.url, '127.0.0.55', code, 'other'),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const { rows } = await f.platform.database.pool.query(
      "SELECT username FROM rm.users WHERE role = 'admin'",
    );
    expect(rows).toHaveLength(1);
  });
});
