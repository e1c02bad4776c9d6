import { hash, verify } from '@node-rs/argon2';
import { parseOrThrow, passwordSchema } from '@tianqi/domain';

// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (~60 ms here).
const OPTIONS = {
  algorithm: 2 as const /* Algorithm.Argon2id: a const enum, which verbatimModuleSyntax cannot import */,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

/** Checks the password policy, then hashes with argon2id. The plaintext goes nowhere else. */
export async function hashPassword(password: string): Promise<string> {
  parseOrThrow(passwordSchema, password, 'password');
  return hash(password, OPTIONS);
}

// A hash of nothing anyone knows, verified when the user does not exist, so a login for an unknown
// name takes as long as one with a wrong password.
let decoy: Promise<string> | undefined;

export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (passwordHash === null) {
    decoy ??= hash(`decoy-${Math.random()}`, OPTIONS);
    await verify(await decoy, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}
