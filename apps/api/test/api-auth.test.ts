import { request } from 'node:http';
import { TRPCClientError } from '@trpc/client';
import { describe, expect, it } from 'vitest';
import { useApi } from './api-fixture.js';
import { until } from './docker-fixture.js';
import { createApiClient } from './support/api-client.js';

/** Sign-in over HTTP as a browser and as the CLI: cookies, tokens, expiry, limits, and what is recorded. */
const api = useApi({ auth: { 'max-failures': 3, 'lockout-minutes': 1, 'session-idle-minutes': 1 } });

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (e instanceof TRPCClientError ? String(e.data?.tianqiCode) : String(e)),
  );

/** A tRPC answer's data, from a plain fetch. */
const dataOf = async (res: Response) =>
  ((await res.json()) as { result: { data: Record<string, unknown> | null } }).result.data;

/** A tRPC call over plain fetch, as a browser makes it. */
async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${url}/api/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** `auth.login` sent from a loopback address of the test's choosing: another client at another address. */
function loginFrom(
  url: string,
  localAddress: string,
  username: string,
  password: string,
): Promise<{ status: number; message: string }> {
  const { port } = new URL(url);
  const body = JSON.stringify({ username, password, via: 'cli' });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(port),
        localAddress,
        method: 'POST',
        path: '/api/trpc/auth.login',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d));
        res.on('end', () => {
          const parsed = JSON.parse(text) as { error?: { message: string } };
          resolve({ status: res.statusCode ?? 0, message: parsed.error?.message ?? '' });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A wrong password from an address, waiting out the name's throttle: the attempt that is answered 401. */
async function guess(url: string, from: string, username: string, password: string): Promise<number> {
  for (let i = 0; i < 40; i++) {
    const r = await loginFrom(url, from, username, password);
    if (!(r.status === 429 && /lately/.test(r.message))) return r.status;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return 0;
}

describe('accounts and sessions over HTTP', () => {
  it('a browser login sets an HttpOnly SameSite cookie (no token in the body) that signs later requests in', async () => {
    const a = api();
    await a.user('webby');
    const res = await post(
      a.url,
      'auth.login',
      { username: 'webby', password: 'webby-password', via: 'web' },
      { origin: a.url }, // as the browser sends it from the app's page
    );
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^tianqi_session=tq_[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Expires=/);
    expect((await dataOf(res))!.token).toBeNull();
    const session = cookie.split(';')[0]!;
    const me = await fetch(`${a.url}/api/trpc/auth.me`, { headers: { cookie: session } });
    expect((await dataOf(me))!.username).toBe('webby');
    // The same cookie from another site's page is refused.
    const cross = await fetch(`${a.url}/api/trpc/instances.list`, {
      headers: { cookie: session, origin: 'https://evil.example' },
    });
    expect(cross.status).toBe(403);
    const same = await fetch(`${a.url}/api/trpc/instances.list`, {
      headers: { cookie: session, origin: a.url },
    });
    expect(same.status).toBe(200);
    // Logout clears the cookie and ends the session.
    const out = await post(a.url, 'auth.logout', {}, { cookie: session, origin: a.url });
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect(
      await dataOf(await fetch(`${a.url}/api/trpc/auth.me`, { headers: { cookie: session } })),
    ).toBeNull();
  });

  it('a wrong password is slower each time, then that address is locked out of the name even for the right password; all of it recorded', async () => {
    const a = api();
    await a.user('target');
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      expect(
        await codeOf(a.anon.auth.login.mutate({ username: 'target', password: 'wrong-guess', via: 'cli' })),
      ).toBe('unauthorized');
      times.push(Date.now() - t0);
    }
    expect(times[1]!).toBeGreaterThan(times[0]!);
    expect(times[2]!).toBeGreaterThan(times[1]!);
    const locked = a.anon.auth.login.mutate({ username: 'target', password: 'target-password', via: 'cli' });
    await expect(locked).rejects.toThrow(
      /too many failed sign-ins for this user from this address; try again in \d+ s/,
    );
    expect(await codeOf(locked)).toBe('rate_limited');
    // Other names from the same address still get in (3 × 4 per address before it is locked too).
    expect(await codeOf(a.login('admin', 'admin-password'))).toBe('ok');
    const log = await a.admin.audit.list.query({ type: 'LoginFailed', limit: 10 });
    expect(log.items).toHaveLength(3);
    expect(log.items[0]).toMatchObject({
      actorIp: '127.0.0.1',
      summary: 'failed sign-in (cli, password): wrong password',
    });
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/tianqi_logins_total\{outcome="failure",via="cli"\} 3/);
    expect(metrics).toMatch(/tianqi_logins_total\{outcome="limited",via="cli"\} 1/);
  });

  it("guesses from one address lock that address out of the name, not the name's owner at another address", async () => {
    const a = api();
    await a.user('owner'); // signs in once from 127.0.0.1
    const guesser = '127.0.0.7';
    for (let i = 0; i < 3; i++) {
      expect(await guess(a.url, guesser, 'owner', `guess-${i}-wrong`)).toBe(401);
    }
    const locked = await loginFrom(a.url, guesser, 'owner', 'owner-password');
    expect(locked.status).toBe(429);
    expect(locked.message).toMatch(/for this user from this address/);
    // The owner from an address never seen for this name: slowed by the name's throttle (1 s after
    // three failures), never locked out.
    let owner = await loginFrom(a.url, '127.0.0.8', 'owner', 'owner-password');
    for (let i = 0; i < 20 && owner.status === 429; i++) {
      expect(owner.message).toMatch(/for this user lately; try again in \d+ s/);
      await new Promise((r) => setTimeout(r, 500));
      owner = await loginFrom(a.url, '127.0.0.8', 'owner', 'owner-password');
    }
    expect(owner.status).toBe(200);
    // And from the address they signed in from before, at once.
    expect((await loginFrom(a.url, '127.0.0.1', 'owner', 'owner-password')).status).toBe(200);
    // The guesser stays locked out.
    expect((await loginFrom(a.url, guesser, 'owner', 'owner-password')).status).toBe(429);
  });

  it("an address the owner signed in from is known to every server, from the event log: another server's throttle spares it", async () => {
    const a = api();
    const other = await a.secondServer();
    try {
      await a.user('roamer');
      expect((await loginFrom(a.url, '127.0.0.5', 'roamer', 'roamer-password')).status).toBe(200);
      // Guesses on the other server, which has never seen roamer sign in: its throttle is on.
      for (let i = 0; i < 3; i++) {
        expect(await guess(other.url, '127.0.0.6', 'roamer', `wrong-${i}-guess`)).toBe(401);
      }
      expect((await loginFrom(other.url, '127.0.0.4', 'roamer', 'roamer-password')).message).toMatch(
        /for this user lately/,
      );
      // From the address the event log knows: straight in, on the other server too.
      expect((await loginFrom(other.url, '127.0.0.5', 'roamer', 'roamer-password')).status).toBe(200);
    } finally {
      await other.close();
    }
  });

  it('an unknown name gets the same answer as a wrong password, and is recorded with its address', async () => {
    const a = api();
    await expect(
      a.anon.auth.login.mutate({ username: 'nobody-here', password: 'whatever-1', via: 'cli' }),
    ).rejects.toThrow('wrong username or password');
    const log = await a.admin.audit.list.query({ type: 'UnknownUserLoginFailed' });
    expect(log.items[0]).toMatchObject({
      actorIp: '127.0.0.1',
      summary: 'failed sign-in as unknown user "nobody-here" (cli, password)',
    });
  });

  it('changing the password needs the current one and ends the other sessions; the new one works', async () => {
    const a = api();
    const first = await a.user('changer');
    const second = await a.login('changer', 'changer-password');
    expect(
      await codeOf(
        second.client.auth.changePassword.mutate({
          currentPassword: 'not-it-at-all',
          newPassword: 'new-password-1',
        }),
      ),
    ).toBe('unauthorized');
    const done = await second.client.auth.changePassword.mutate({
      currentPassword: 'changer-password',
      newPassword: 'new-password-1',
    });
    expect(done.otherSessionsEnded).toBe(1);
    expect(await codeOf(first.client.instances.list.query())).toBe('unauthorized');
    expect(await codeOf(second.client.instances.list.query())).toBe('ok');
    expect(await codeOf(a.login('changer', 'new-password-1'))).toBe('ok');
  });

  it('disabling a user ends their sessions at once and refuses their logins; enabling lets them back', async () => {
    const a = api();
    const user = await a.user('leaver');
    const { sessionsEnded } = await a.admin.users.disable.mutate({ userId: user.userId });
    expect(sessionsEnded).toBe(1);
    expect(await codeOf(user.client.auth.sshKeys.query())).toBe('unauthorized');
    expect(await codeOf(a.login('leaver', 'leaver-password'))).toBe('unauthorized');
    await a.admin.users.enable.mutate({ userId: user.userId });
    expect(await codeOf(a.login('leaver', 'leaver-password'))).toBe('ok');
    // An admin cannot lock themselves out.
    const me = (await a.admin.auth.me.query())!;
    await expect(a.admin.users.disable.mutate({ userId: me.userId })).rejects.toThrow(
      'an admin cannot disable themselves',
    );
  });

  it('a session unused past its idle time is over; a made-up token is nobody', async () => {
    const a = api();
    const user = await a.user('sleeper');
    await a.platform.database.pool.query(
      "UPDATE auth_sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1",
      [user.userId],
    );
    expect(await codeOf(user.client.instances.list.query())).toBe('unauthorized');
    expect(
      await createApiClient(a.url, 'tq_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').auth.me.query(),
    ).toBeNull();
    // Only a digest of each token is stored.
    const { rows } = await a.platform.database.pool.query('SELECT token_digest FROM auth_sessions');
    expect(rows.every((r: { token_digest: string }) => !r.token_digest.startsWith('tq_'))).toBe(true);
  });

  it('no response carries a password hash, a node password or a private key', async () => {
    const a = api();
    await a.admin.nodes.register.mutate({
      name: 'secretive',
      cpuCores: 4,
      memoryGb: 8,
      systemDiskGb: 50,
      dockerAddress: 'tcp://127.0.0.98:2376',
      useTls: false,
      sshPassword: 'ssh-secret-p4ss',
      listed: false,
    });
    const bodies = await Promise.all(
      ['users.list', 'nodes.list', 'audit.list?input=%7B%22limit%22%3A500%7D'].map(async (path) =>
        (
          await fetch(`${a.url}/api/trpc/${path}`, { headers: { authorization: `Bearer ${a.adminToken}` } })
        ).text(),
      ),
    );
    for (const body of bodies) {
      expect(body).not.toMatch(/\$argon2id\$/);
      expect(body).not.toContain('ssh-secret-p4ss');
      expect(body).not.toMatch(/PRIVATE KEY|passwordHash|"sshPassword"|"clientKey"/);
    }
    expect(JSON.parse(bodies[1]!).result.data[0]).toMatchObject({
      name: 'secretive',
      hasSshPassword: true,
      hasClientKey: false,
    });
  });

  it('a sign-out reaches the other API servers at once, not after their session cache, and is recorded', async () => {
    const f = api();
    const other = await f.secondServer();
    try {
      const carol = await f.user('carol');
      const onOther = createApiClient(other.url, carol.token);
      // The other server has just looked the session up, and would trust it for 5 s more.
      expect((await onOther.auth.me.query())?.username).toBe('carol');
      await carol.client.auth.logout.mutate();
      await until(
        'the other server to forget the session',
        async () => (await onOther.auth.me.query()) === null,
        2_500,
      );
      const { items } = await f.admin.audit.list.query({ actorUserId: carol.userId, type: 'SignedOut' });
      expect(items).toMatchObject([{ summary: 'signed out (cli)' }]);
    } finally {
      await other.close();
    }
  });
});
