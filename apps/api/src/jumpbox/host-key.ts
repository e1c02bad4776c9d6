import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { writeNewFile } from '../data-dir/write-new-file.js';
import { StartError } from '../start-error.js';

/** A host key that cannot be used: the start stops with this, naming the file and what to do. */
export class HostKeyError extends StartError {
  override name = 'HostKeyError';
}

/**
 * The jumpbox's host key: the configured file, or an ed25519 key generated on the first start and kept
 * in the data folder (0600), so clients never see it change across restarts. A key file that cannot
 * be read or parsed stops the start with a message, instead of an SSH library's stack trace.
 */
export async function loadHostKey(configured: string, dataDir: string): Promise<Buffer> {
  if (configured) {
    // Never null: a configured file that is missing is an error, not a key to generate.
    const key = (await readKeyFile(configured, 'jumpbox.host-key')) as Buffer;
    return checkedKey(key, configured, true);
  }
  const path = join(dataDir, 'ssh_host_ed25519_key');
  const existing = await readKeyFile(path, null);
  if (existing) return checkedKey(existing, path, false);
  const key = generateHostKey();
  // `wx`: two servers starting at once on one folder keep the first key, not two.
  await writeNewFile(path, key, "The SSH jumpbox's new host key");
  await chmod(path, 0o600);
  return checkedKey((await readKeyFile(path, null)) ?? Buffer.from(key), path, false);
}

/** The file's bytes; null when a generated key's file is not there yet. */
async function readKeyFile(path: string, configKey: string | null): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && configKey === null) return null;
    throw new HostKeyError(
      `The SSH jumpbox's host key ${path} cannot be read (${code ?? (err as Error).message}). ` +
        (configKey
          ? `Fix the path in ${configKey}, or leave it empty to have a key generated in data-dir.`
          : 'Give the server read access to it, or remove it to have a new key generated.'),
    );
  }
}

function checkedKey(key: Buffer, path: string, configured: boolean): Buffer {
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error || !isPrivate(parsed)) {
    const why = parsed instanceof Error ? parsed.message : 'it holds no private key';
    throw new HostKeyError(
      `The SSH jumpbox's host key ${path} is damaged or not a private key (${why}). ` +
        (configured
          ? 'Point jumpbox.host-key at an unencrypted OpenSSH or PEM private key (ssh-keygen -t ed25519 -N "" -f FILE).'
          : `Remove it to have a new key generated at the next start (SSH clients will then warn that the host key changed), or put a good key there (ssh-keygen -t ed25519 -N "" -f ${path}).`),
    );
  }
  return key;
}

function isPrivate(parsed: ssh2.ParsedKey | ssh2.ParsedKey[]): boolean {
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return key?.isPrivateKey() === true;
}

/**
 * A new ed25519 host key in OpenSSH's format, written out here from Node's own key generator.
 * ssh2's generator strips "leading zeros" from the 32-byte public half, which also cuts a real first
 * byte of 0x00 (about one key in 256), and its parser then refuses the saved key at every start.
 * Every key is parsed back before it is handed out.
 */
export function generateHostKey(comment = 'tianqi-jumpbox'): string {
  // One try is the rule; a few more cover a fluke, and then something is wrong with ssh2 itself.
  for (let attempt = 0; attempt < 10; attempt++) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    // The raw halves: the last 32 bytes of the SPKI and PKCS#8 encodings.
    const pub = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
    const seed = privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(-32);
    const text = openSshPrivateKey(pub, seed, comment);
    const parsed = ssh2.utils.parseKey(text);
    if (
      !(parsed instanceof Error) &&
      !Array.isArray(parsed) &&
      parsed.getPublicSSH().subarray(-32).equals(pub)
    )
      return text;
  }
  throw new HostKeyError('ssh2 could not read back any ed25519 host key generated for the jumpbox');
}

/** `openssh-key-v1`, unencrypted, one ed25519 key (PROTOCOL.key in OpenSSH's sources). */
function openSshPrivateKey(pub: Buffer, seed: Buffer, comment: string): string {
  const str = (b: Buffer | string) => {
    const body = typeof b === 'string' ? Buffer.from(b) : b;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    return Buffer.concat([len, body]);
  };
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const publicBlob = Buffer.concat([str('ssh-ed25519'), str(pub)]);
  const check = randomBytes(4);
  let secret = Buffer.concat([
    check,
    check,
    str('ssh-ed25519'),
    str(pub),
    str(Buffer.concat([seed, pub])),
    str(comment),
  ]);
  // Padded with 1, 2, 3, … to the cipher's block size (8 for "none").
  const pad = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const blob = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    str('none'),
    str('none'),
    str(''),
    u32(1),
    str(publicBlob),
    str(secret),
  ]);
  const lines = blob.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
