import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useApi } from './api-fixture.js';

/** What a hostile or careless client can make of the HTTP side: bodies, slow requests, other sites. */
const api = useApi({ server: { 'request-timeout-seconds': 3 } });

const MB = 1024 * 1024;

/**
 * POSTs a body of up to `total` bytes, written as fast as the server takes it, and stops writing once
 * the answer comes or the connection closes. What came back, and how much was sent.
 */
async function postStream(
  url: string,
  path: string,
  headers: Record<string, string>,
  total: number,
): Promise<{ status: number; sent: number; body: string }> {
  const { port } = new URL(url);
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const req = request({ host: '127.0.0.1', port: Number(port), method: 'POST', path, headers });
  let answered: { status: number; body: string } | null = null;
  let closed = false;
  const answer = new Promise<void>((resolve) => {
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => {
        answered = { status: res.statusCode ?? 0, body };
        resolve();
      });
    });
    req.on('error', () => resolve());
    req.on('close', () => {
      closed = true;
      resolve();
    });
  });
  let sent = 0;
  while (sent < total && !answered && !closed) {
    sent += chunk.length;
    if (!req.write(chunk)) await Promise.race([once(req, 'drain'), answer]);
  }
  if (!answered && !closed) req.end();
  await answer;
  req.destroy();
  const got = answered as { status: number; body: string } | null;
  return { status: got?.status ?? 0, sent, body: got?.body ?? '' };
}

/** A plain tRPC POST with the given headers. */
const post = (url: string, path: string, body: unknown, headers: Record<string, string>) =>
  fetch(`${url}/api/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('HTTP limits', () => {
  it('four 200 MB multipart POSTs from nobody are refused before they are read, and memory barely moves', async () => {
    const { url } = api();
    global.gc?.();
    const before = process.memoryUsage().rss;
    const answers = await Promise.all(
      Array.from({ length: 4 }, () =>
        postStream(
          url,
          '/api/trpc/auth.logout',
          { 'content-type': 'multipart/form-data; boundary=xyz', 'transfer-encoding': 'chunked' },
          200 * MB,
        ),
      ),
    );
    const grown = process.memoryUsage().rss - before;
    for (const a of answers) {
      expect(a.status).toBe(415);
      expect(JSON.parse(a.body)).toMatchObject({ error: 'unsupported_media_type' });
      // Refused at the headers: at most what the sockets' buffers took before the close.
      expect(a.sent).toBeLessThan(32 * MB);
    }
    // Server and client share this process: 800 MB offered, far less than that held.
    expect(grown).toBeLessThan(150 * MB);
  });

  it('a JSON body past 1 MiB is refused: at once when its length says so, as it arrives when chunked', async () => {
    const { url } = api();
    const declared = await postStream(
      url,
      '/api/trpc/auth.login',
      { 'content-type': 'application/json', 'content-length': String(10 * MB) },
      10 * MB,
    );
    expect(declared.status).toBe(413);
    expect(declared.sent).toBeLessThan(8 * MB);
    const chunked = await postStream(
      url,
      '/api/trpc/auth.login',
      { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      10 * MB,
    );
    expect(chunked.status).toBe(413);
  });

  it('a body sent a byte at a time is cut off after the request timeout (3 s here), headers or not', async () => {
    const { url } = api();
    const { port } = new URL(url);
    const slow = connect(Number(port), '127.0.0.1');
    await once(slow, 'connect');
    slow.write(
      'POST /api/trpc/auth.login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    let answer = '';
    slow.on('data', (d: Buffer) => (answer += d));
    const started = Date.now();
    const drip = setInterval(() => slow.writable && slow.write(' '), 500);
    const closed = await Promise.race([
      once(slow, 'close').then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
    ]);
    clearInterval(drip);
    slow.destroy();
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('a cookie-signed change with no Origin needs the app header; another site, a form or a Referer alone is refused', async () => {
    const a = api();
    await a.user('webster');
    const login = await post(
      a.url,
      'auth.login',
      { username: 'webster', password: 'webster-password', via: 'web' },
      { origin: a.url },
    );
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const me = async () =>
      (
        (await (await fetch(`${a.url}/api/trpc/auth.me`, { headers: { cookie } })).json()) as {
          result: { data: { username: string } | null };
        }
      ).result.data?.username ?? null;

    // No Origin, a foreign Referer: refused, and nothing happened.
    const noOrigin = await post(a.url, 'auth.logout', {}, { cookie, referer: 'https://evil.example/page' });
    expect(noOrigin.status).toBe(403);
    expect(((await noOrigin.json()) as { error: { message: string } }).error.message).toMatch(
      /needs its Origin or the x-tianqi-client header/,
    );
    // A form's "simple request": refused before anything runs.
    const form = await fetch(`${a.url}/api/trpc/auth.logout`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'multipart/form-data; boundary=b' },
      body: '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
    });
    expect(form.status).toBe(415);
    const urlencoded = await fetch(`${a.url}/api/trpc/auth.logout`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'x=1',
    });
    expect(urlencoded.status).toBe(415);
    expect(await me()).toBe('webster');
    // A foreign Origin: refused.
    expect((await post(a.url, 'auth.logout', {}, { cookie, origin: 'https://evil.example' })).status).toBe(
      403,
    );
    // Reads with the cookie and no Origin still work (a same-origin GET sends none).
    expect(await me()).toBe('webster');
    // The app's header (or the page's own Origin) gets through.
    expect((await post(a.url, 'auth.logout', {}, { cookie, 'x-tianqi-client': 'web' })).status).toBe(200);
    expect(await me()).toBeNull();
  });

  it('signing a browser in is refused from another site, and from a page that hides its Origin', async () => {
    const a = api();
    await a.user('signer');
    const body = { username: 'signer', password: 'signer-password', via: 'web' };
    expect((await post(a.url, 'auth.login', body, { origin: 'https://evil.example' })).status).toBe(403);
    const hidden = await post(a.url, 'auth.login', body, {});
    expect(hidden.status).toBe(403);
    expect(hidden.headers.get('set-cookie')).toBeNull();
    expect((await post(a.url, 'auth.login', body, { 'x-tianqi-client': 'web' })).status).toBe(200);
    expect((await post(a.url, 'auth.login', body, { origin: a.url })).status).toBe(200);
    // The CLI's sign-in sets no cookie and needs no Origin; from another site it is refused too.
    const cli = { ...body, via: 'cli' };
    expect((await post(a.url, 'auth.login', cli, {})).status).toBe(200);
    expect((await post(a.url, 'auth.login', cli, { origin: 'https://evil.example' })).status).toBe(403);
  });
});
