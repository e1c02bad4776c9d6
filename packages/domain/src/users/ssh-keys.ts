import { createHash } from 'node:crypto';
import { TianqiError } from '../shared/errors.js';

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export interface SshPublicKey {
  algorithm: string;
  /** The base64 key blob, as in authorized_keys. */
  key: string;
  comment: string;
  /** `SHA256:…` as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/**
 * Reads one authorized_keys line (`type base64 [comment]`). The blob must name the same type it is
 * declared as, which catches pasted private keys, truncated keys and keys of one type labelled another.
 */
export function parseSshPublicKey(line: string): SshPublicKey {
  const parts = line.trim().split(/\s+/);
  const [algorithm, key] = parts;
  if (!algorithm || !key || !KEY_TYPES.has(algorithm)) {
    throw new TianqiError(
      'validation',
      'an SSH public key is one line like "ssh-ed25519 AAAA… comment" (RSA, ECDSA and Ed25519 are accepted)',
    );
  }
  const blob = /^[A-Za-z0-9+/]+={0,2}$/.test(key) ? Buffer.from(key, 'base64') : Buffer.alloc(0);
  const declared = blob.length >= 4 ? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1') : '';
  if (declared !== algorithm || blob.length < 4 + algorithm.length + 16) {
    throw new TianqiError('validation', `the ${algorithm} key is damaged or incomplete`);
  }
  return {
    algorithm,
    key,
    comment: parts.slice(2).join(' ').slice(0, 200),
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
  };
}
