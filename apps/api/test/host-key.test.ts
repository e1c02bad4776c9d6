import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHostKey, HostKeyError, loadHostKey } from '../src/jumpbox/host-key.js';

const run = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tianqi-host-keys-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The raw 32-byte public half of an OpenSSH ed25519 private key, as ssh2 reads it back. */
const publicHalf = (key: string) => (ssh2.utils.parseKey(key) as ssh2.ParsedKey).getPublicSSH().subarray(-32);

/** What OpenSSH's own parser (`ssh-keygen -y`) makes of a private key file: its public key line. */
async function opensshPublic(path: string): Promise<string> {
  return (await run('ssh-keygen', ['-y', '-f', path])).stdout.trim();
}

describe('the jumpbox host key', () => {
  it('every one of 2,000 generated keys parses back, in ssh2 and in OpenSSH, including those whose public half starts with 0x00', async () => {
    const keys = Array.from({ length: 2_000 }, () => generateHostKey());
    // ssh2's own generator strips a leading 0x00 of the public half; these are the keys it broke.
    const leadingZero = keys.filter((k) => publicHalf(k)[0] === 0);
    expect(leadingZero.length).toBeGreaterThan(0);
    for (const key of keys) {
      const parsed = ssh2.utils.parseKey(key);
      expect(parsed).not.toBeInstanceOf(Error);
      expect((parsed as ssh2.ParsedKey).isPrivateKey()).toBe(true);
      expect(publicHalf(key)).toHaveLength(32);
    }
    // OpenSSH reads each one too (8 at a time: one process per key).
    const files = keys.map((_, i) => join(dir, `key-${i}`));
    await Promise.all(keys.map((k, i) => writeFile(files[i]!, k, { mode: 0o600 })));
    for (let i = 0; i < files.length; i += 8) {
      const batch = files.slice(i, i + 8);
      const lines = await Promise.all(batch.map(opensshPublic));
      lines.forEach((line, j) => {
        const key = keys[i + j]!;
        expect(line.split(' ').slice(0, 2).join(' ')).toBe(
          `ssh-ed25519 ${(ssh2.utils.parseKey(key) as ssh2.ParsedKey).getPublicSSH().toString('base64')}`,
        );
      });
    }
  });

  it('a server with a generated key answers `ssh-keyscan` with that key, for keys that start with 0x00 too', async () => {
    const keys: string[] = [];
    while (keys.filter((k) => publicHalf(k)[0] === 0).length < 3) {
      const k = generateHostKey();
      if (publicHalf(k)[0] === 0 || keys.length < 5) keys.push(k);
    }
    for (const key of keys) {
      // The key exchange is all ssh-keyscan needs; it hangs up after it.
      const server = new ssh2.Server({ hostKeys: [key] }, (client) => client.on('error', () => {}));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      try {
        const { stdout } = await run('ssh-keyscan', ['-t', 'ed25519', '-p', String(port), '127.0.0.1']);
        const expected = (ssh2.utils.parseKey(key) as ssh2.ParsedKey).getPublicSSH().toString('base64');
        expect(stdout).toContain(`ssh-ed25519 ${expected}`);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    }
  });

  it('is generated once into the data folder (0600) and kept across starts', async () => {
    const dataDir = join(dir, 'kept');
    const first = await loadHostKey('', dataDir);
    const second = await loadHostKey('', dataDir);
    expect(second.equals(first)).toBe(true);
    expect((await stat(join(dataDir, 'ssh_host_ed25519_key'))).mode & 0o777).toBe(0o600);
  });

  it('a damaged key file stops the start with a message that names the file and what to do', async () => {
    const dataDir = join(dir, 'damaged');
    const good = (await loadHostKey('', dataDir)).toString();
    const path = join(dataDir, 'ssh_host_ed25519_key');
    // One character of the base64 body changed, and then the file cut short.
    await writeFile(
      path,
      good.replace(/\n(.)/, (_m, c: string) => `\n${c === 'A' ? 'B' : 'A'}`),
    );
    await expect(loadHostKey('', dataDir)).rejects.toThrow(HostKeyError);
    await writeFile(path, good.slice(0, 120));
    const err = (await loadHostKey('', dataDir).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/Remove it to have a new key generated/);
    // Nothing was overwritten: the operator decides.
    expect(await readFile(path, 'utf8')).toBe(good.slice(0, 120));
  });

  it('a configured key file that is missing or not a key names the file and the setting', async () => {
    const missing = join(dir, 'nope');
    await expect(loadHostKey(missing, dir)).rejects.toThrow(
      new RegExp(`${missing} cannot be read \\(ENOENT\\)\\. Fix the path in jumpbox\\.host-key`),
    );
    const notKey = join(dir, 'not-a-key');
    await writeFile(notKey, 'hello\n');
    await expect(loadHostKey(notKey, dir)).rejects.toThrow(/not-a-key is damaged or not a private key/);
  });
});
