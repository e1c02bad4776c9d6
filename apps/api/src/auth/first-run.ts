import { createHash, randomInt } from 'node:crypto';
import { chmod, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { TianqiError } from '@tianqi/domain';
import { adminExists, inTransaction, type PlatformEvent, type ProjectionRunner } from '@tianqi/projections';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { CommandResult, UserCommands } from '../commands/index.js';
import { writeNewFile } from '../data-dir/write-new-file.js';
import { settleWithin } from '../shutdown/settle-within.js';
import type { AuthService, LoginResult } from './auth-service.js';
import type { LoginLimiter } from './login-limiter.js';
import type { SessionStore } from './sessions.js';

/** The file in `data-dir` that holds this server's setup code while there is no admin. */
export const SETUP_CODE_FILE = 'setup-code';

/** Crockford's base32 (no I, L, O, U to misread): 16 of them are 80 random bits. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * What setup attempts count under in the login limiter. No username can be it (parentheses), so they
 * count apart from every account, and the name's throttle spaces guesses from all addresses together.
 */
const LIMITER_NAME = '(setup code)';

/** Held while a code is made or spent, on every server of the database ("tqsetu"). */
const SETUP_LOCK = 0x7471_7365_7475;

export function newSetupCode(): string {
  const chars = Array.from({ length: 16 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
  return chars.match(/.{4}/g)!.join('-');
}

/** A code as typed: case, spaces and dashes do not matter, and O, I, L read as 0, 1, 1 (Crockford). */
export function normalCode(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

const digestOf = (code: string) => createHash('sha256').update(normalCode(code)).digest('base64url');

const setUpAlready = () => new TianqiError('conflict', 'the platform is set up already: sign in');

export interface SetupAttempt {
  code: string;
  username: string;
  password: string;
  ip: string | null;
  userAgent: string | null;
  correlationId?: string;
}

/**
 * The first run: while no admin exists, whoever holds a setup code may make the first admin, so that
 * whoever reaches the port first cannot take the platform. Every server that starts then makes its own
 * code, prints it and writes it into its data-dir; the database keeps only their digests, so any code
 * works on every server of the database (and a copy of the database sets nobody up). Once an admin
 * exists, made here or any other way, every code is deleted and each server removes its file.
 */
export class FirstRun {
  #code: string | null = null;
  /** Once true, for good: the last enabled admin can be neither disabled nor demoted (users router). */
  #setUp = false;
  readonly file: string;

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      projections: ProjectionRunner;
      users: UserCommands;
      sessions: SessionStore;
      limiter: LoginLimiter;
      auth: AuthService;
      dataDir: string;
      logger: Logger;
    },
  ) {
    this.file = join(deps.dataDir, SETUP_CODE_FILE);
  }

  /** This server's setup code while there is no admin (what the start prints), else null. */
  get code(): string | null {
    return this.#code;
  }

  /**
   * At start, the read models caught up, before the port opens: with no admin, this server's code —
   * the one in its file when the database still has it (a restart keeps a code already copied), else
   * a new one; with an admin, no code at all.
   */
  async prepare(): Promise<string | null> {
    const code = await this.#locked(async (client) => {
      if (await adminExists(this.deps.pool)) return null;
      const kept = await readFile(this.file, 'utf8').then(
        (text) => text.trim(),
        () => null,
      );
      if (kept && (await known(client, kept))) return kept;
      const made = newSetupCode();
      await client.query('INSERT INTO setup_codes (code_digest, made_by) VALUES ($1, $2)', [
        digestOf(made),
        `${hostname()}:${resolve(this.deps.dataDir)}`,
      ]);
      // Before the commit: a code nobody can read is never left working.
      await this.#writeFile(made);
      return made;
    });
    if (code === null) await this.#gone();
    this.#code = code;
    return code;
  }

  async needsSetup(): Promise<boolean> {
    if (this.#setUp) return false;
    if (!(await adminExists(this.deps.pool))) return true;
    await this.#gone();
    return false;
  }

  /**
   * Makes the first admin with a right code and signs them in (a browser session); a wrong code is
   * `forbidden` and counts as a failed sign-in; with an admin already, `conflict`.
   */
  async setUp(attempt: SetupAttempt): Promise<LoginResult> {
    if (!(await this.needsSetup())) throw setUpAlready();
    const { limiter, users, projections } = this.deps;
    const { ip } = attempt;
    const done = limiter.begin(LIMITER_NAME, ip);
    let outcome: { made: CommandResult } | 'wrong code' | 'set up';
    try {
      outcome = await this.#locked(async (client) => {
        // Another server set up, or an admin came another way, since the look above.
        if (await adminExists(this.deps.pool)) return 'set up';
        if (!(await known(client, attempt.code))) return 'wrong code';
        const made = await users.register(
          { username: attempt.username, password: attempt.password, role: 'admin' },
          { actor: { kind: 'system', name: 'setup' }, ip, correlationId: attempt.correlationId },
        );
        // The read models have the admin before the lock goes: whoever takes it next sees them.
        if (made.position) await settleWithin([projections.waitFor(made.position)], 5_000);
        await client.query('DELETE FROM setup_codes');
        return { made };
      });
    } finally {
      done();
    }
    if (outcome === 'set up') {
      await this.#gone();
      throw setUpAlready();
    }
    if (outcome === 'wrong code') {
      const waited = limiter.failure(LIMITER_NAME, ip);
      this.deps.logger.warn({ ip }, 'a wrong setup code');
      await waited;
      throw new TianqiError(
        'forbidden',
        `wrong setup code: it is printed on the server's console at start, and kept in its data-dir (${SETUP_CODE_FILE})`,
      );
    }
    const { made } = outcome;
    limiter.success(LIMITER_NAME, ip);
    await this.#gone();
    const session = await this.deps.sessions.create({
      userId: made.id,
      via: 'web',
      ip,
      userAgent: attempt.userAgent,
    });
    await this.deps.auth.recordLogin(made.id, ip, { succeeded: true, via: 'web', method: 'password' });
    const user = await users.get(made.id);
    if (!user) throw new TianqiError('internal', 'the admin just made cannot be found');
    return { ...session, user };
  }

  /** After each batch of the read models: an admin made anywhere (the CLI, another server) ends the codes. */
  onApplied(events: readonly PlatformEvent[]): void {
    if (this.#setUp) return;
    const admin = events.some(
      (e) => (e.type === 'UserRegistered' || e.type === 'RoleChanged') && e.data.role === 'admin',
    );
    if (admin)
      this.needsSetup().catch((err: unknown) =>
        this.deps.logger.warn({ err }, 'could not remove the setup codes'),
      );
  }

  /** An admin exists: no code works any more, and this server's file goes. */
  async #gone(): Promise<void> {
    this.#setUp = true;
    this.#code = null;
    await this.deps.pool.query('DELETE FROM setup_codes');
    await rm(this.file, { force: true });
  }

  async #writeFile(code: string): Promise<void> {
    // Made anew, so it has the mode given here whatever an old file had: readable by the owner only.
    await rm(this.file, { force: true });
    await writeNewFile(this.file, `${code}\n`, 'The setup code');
    await chmod(this.file, 0o600);
  }

  #locked<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.deps.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [SETUP_LOCK]);
      return fn(client);
    });
  }
}

async function known(client: pg.PoolClient, code: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM setup_codes WHERE code_digest = $1', [
    digestOf(code),
  ]);
  return (rowCount ?? 0) > 0;
}
