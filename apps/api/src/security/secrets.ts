import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TianqiError } from '@tianqi/domain';
import { writeNewFile } from '../data-dir/write-new-file.js';

/**
 * Seals node passwords and TLS private keys with AES-256-GCM before they go into an event, as
 * `v1.<iv>.<tag>.<ciphertext>` (base64url). GCM's tag means a sealed value that was tampered with,
 * or sealed under another key, fails to open instead of yielding garbage.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32)
      throw new TianqiError('validation', 'the secrets key must be 32 bytes (base64 of 32 random bytes)');
    this.#key = key;
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined)
      throw new TianqiError('internal', 'not a sealed secret');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new TianqiError(
        'internal',
        'a sealed secret could not be opened: it was sealed under another key',
      );
    }
  }
}

/**
 * The key from configuration (`secrets.key`, base64 of 32 bytes), or else one generated on first start
 * and kept in `<data-dir>/secret.key` (mode 0600). Losing it means re-entering node secrets.
 */
export async function loadSecretKey(configured: string, dataDir: string): Promise<Buffer> {
  if (configured !== '') {
    const key = Buffer.from(configured, 'base64');
    if (key.length !== 32) {
      throw new TianqiError(
        'validation',
        'secrets.key must be base64 of exactly 32 bytes (openssl rand -base64 32)',
      );
    }
    return key;
  }
  const file = join(dataDir, 'secret.key');
  try {
    return Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32);
  // Another process made it first: use theirs.
  if (!(await writeNewFile(file, `${key.toString('base64')}\n`, 'The key sealing node secrets')))
    return loadSecretKey(configured, dataDir);
  await chmod(file, 0o600);
  return key;
}
