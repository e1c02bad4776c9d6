import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type HeldLease, LeaseTable } from './lease-table.js';

/** What a lease's work is told: started with the token that fences it, stopped before it is given up. */
export interface LeaseWork {
  acquired(name: string, fence: string): Promise<void> | void;
  /** Resolves once nothing more is done under the lease (in-flight Docker calls have ended). */
  lost(name: string): Promise<void>;
}

export interface ReplicaSetOptions {
  pool: pg.Pool;
  /** This replica's name among the others (unique: by default host and port). */
  replica: string;
  leaseMs: number;
  /** The leases there are to share out now (the read models, one per live node). */
  leases: () => Promise<string[]>;
  work: LeaseWork;
  logger: Logger;
  onChange?: (held: number, live: number) => void;
}

/** `step` run one at a time: a call while it runs gets that run; failures go to `failed`. */
function oneAtATime(step: () => Promise<void>, failed: (err: unknown) => void): () => Promise<void> {
  let running: Promise<void> | null = null;
  return () => {
    running ??= step()
      .catch(failed)
      .finally(() => {
        running = null;
      });
    return running;
  };
}

interface Holding {
  token: bigint;
  /** After this (performance.now()), the lease may be taken over: nothing is done under it any more. */
  until: number;
}

/**
 * This server among the replicas on one database: it says it is alive, renews the leases it holds,
 * and takes or gives up leases so that each live replica holds its share (the first `n mod r`
 * replicas by name hold one more), so three replicas split a fleet's nodes about evenly. A lease
 * whose holder died expires after `leaseMs` and goes to a replica under its share.
 *
 * A holder counts its lease as lost one look (`tickMs`) before the database lets another take it,
 * measured from when it asked for the renewal, so it stops acting before the next owner starts.
 */
export class ReplicaSet {
  readonly incarnation = randomUUID();
  readonly tickMs: number;
  readonly #table: LeaseTable;
  readonly #held = new Map<string, Holding>();
  /** Leases whose work is being stopped (not taken again here until it has). */
  readonly #stopping = new Map<string, Promise<void>>();
  #live: string[] = [];
  /** When the last heartbeat that got an answer was asked (performance.now()). */
  #heartbeatAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #warnedReplaced = false;

  constructor(private readonly options: ReplicaSetOptions) {
    this.tickMs = Math.min(1_000, Math.floor(options.leaseMs / 4));
    this.#table = new LeaseTable(options.pool, options.replica, this.incarnation, options.leaseMs);
  }

  get replica(): string {
    return this.options.replica;
  }

  /** The live replicas (this one among them) at the last look. */
  get live(): readonly string[] {
    return this.#live;
  }

  /** The leases held now, by name. */
  get held(): string[] {
    return [...this.#held.keys()].sort();
  }

  /** The fence of a lease held now and not about to expire; null when it is not (or no longer) held. */
  fence(name: string): string | null {
    const h = this.#held.get(name);
    return h && h.until > performance.now() ? `${name}#${h.token}` : null;
  }

  /** The first look (what is free is taken before this resolves), then one every `tickMs`. */
  async start(): Promise<void> {
    await this.tick();
    this.#schedule();
  }

  /**
   * Renewals keep their pace whatever a share-out in progress waits for (a busy database, a pool
   * shared with a sync of thousands of instances): a look that renewed only after the share-out
   * would let every lease run out whenever one took longer than a lease.
   */
  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#renewOnce()
        .then(() => void this.#balanceOnce())
        .finally(() => this.#schedule());
    }, this.tickMs);
  }

  /** One look: heartbeat and renewals, then give up or take leases towards this replica's share. */
  async tick(): Promise<void> {
    await this.#renewOnce();
    await this.#balanceOnce();
  }

  /** Heartbeat and renewals, one run at a time (a call while one runs gets that run). */
  readonly #renewOnce = oneAtATime(
    () => this.#renewStep(),
    (err) => this.options.logger.warn({ err }, 'replica heartbeat failed'),
  );

  /** The share-out, likewise. */
  readonly #balanceOnce = oneAtATime(
    () => this.#balanceStep(),
    (err) => this.options.logger.warn({ err }, 'sharing out the leases failed'),
  );

  async #renewStep(): Promise<void> {
    if (this.#stopped) return;
    this.#dropExpired();
    const asked = performance.now();
    const { live, replacedOther } = await this.#table.heartbeat();
    if (replacedOther && !this.#warnedReplaced) {
      this.#warnedReplaced = true;
      this.options.logger.warn(
        { replica: this.replica },
        'another live server had this replica id (a restart at the same address, or two servers given the same replicas.id)',
      );
    }
    this.#live = live;
    this.#heartbeatAt = asked;
    await this.#renew(asked);
  }

  async #balanceStep(): Promise<void> {
    // Shares are worked out only from a membership just seen (never from none: a first heartbeat that
    // failed would make this replica's share everything).
    if (this.#stopped || !this.#live.includes(this.replica)) return;
    if (performance.now() - this.#heartbeatAt > this.options.leaseMs) return;
    const live = this.#live;
    const names = await this.options.leases();
    await this.#table.ensure(names);
    const wanted = new Set(names);
    const index = live.indexOf(this.replica);
    const share = Math.floor(names.length / live.length) + (index < names.length % live.length ? 1 : 0);
    // Work that is gone (a deleted node), then whatever is over the share, is given up.
    const giveUp = this.held.filter((n) => !wanted.has(n));
    const kept = this.held.filter((n) => wanted.has(n));
    giveUp.push(...kept.slice(share));
    if (giveUp.length > 0) this.#giveUp(giveUp);
    if (this.#held.size < share && !this.#stopped) {
      const free = await this.#table.free(names);
      const wantedNow = free.filter((n) => !this.#held.has(n) && !this.#stopping.has(n));
      const at = performance.now();
      const taken = await this.#table.acquire(wantedNow, share - this.#held.size);
      // Stopping meanwhile: handed straight back, no work started.
      if (this.#stopped) await this.#table.release(taken.map((l) => l.name));
      else for (const lease of taken) this.#take(lease, at);
    }
    this.options.onChange?.(this.#held.size, live.length);
  }

  /**
   * Extends what was held when the renewal was asked; a lease taken meanwhile (by a share-out going
   * on beside it) is judged at the next renewal, not counted as lost for missing from this answer.
   */
  async #renew(asked: number): Promise<void> {
    const before = new Map([...this.#held].map(([name, h]) => [name, h.token]));
    const still = new Map((await this.#table.renew()).map((l) => [l.name, l.token]));
    for (const [name, token] of before) {
      const h = this.#held.get(name);
      if (!h || h.token !== token) continue; // given up, or taken again, meanwhile
      if (still.get(name) === token) h.until = asked + this.options.leaseMs - this.tickMs;
      else this.#lose(name, 'taken by another replica');
    }
  }

  /** Leases whose time ran out here (renewals failed: the database away, a long pause). */
  #dropExpired(): void {
    const now = performance.now();
    for (const [name, h] of [...this.#held]) if (h.until <= now) this.#lose(name, 'not renewed in time');
  }

  /**
   * Held from now; its work is started in the background, so that a slow start (a busy database, a
   * node with many instances) holds up neither the other takes of this look nor the next renewal. A
   * start that fails is tried again while the lease is still held here, not given up: giving it up
   * only to take it again would start the same work over and over.
   */
  #take(lease: HeldLease, asked: number): void {
    this.#held.set(lease.name, { token: lease.token, until: asked + this.options.leaseMs - this.tickMs });
    this.options.logger.info({ lease: lease.name, token: String(lease.token) }, 'lease taken');
    const stillHeld = () => !this.#stopped && this.#held.get(lease.name)?.token === lease.token;
    const start = async (attempt: number): Promise<void> => {
      try {
        await this.options.work.acquired(lease.name, `${lease.name}#${lease.token}`);
      } catch (err) {
        this.options.logger.error({ err, lease: lease.name, attempt }, 'starting work under a lease failed');
        const delay = Math.min(30_000, 1_000 * 2 ** (attempt - 1));
        setTimeout(() => {
          if (stillHeld()) void start(attempt + 1);
        }, delay).unref();
      }
    };
    void start(1);
  }

  /**
   * Also freed once its work has stopped (nothing happens if another replica has it by then): one that
   * ran out here may still be this replica's in the table, renewed with the rest, and would otherwise
   * stay held there with nobody working on it whenever this replica is at its share.
   */
  #lose(name: string, why: string): void {
    this.options.logger.warn({ lease: name, why }, 'lease lost');
    this.#stop(name);
  }

  /** Stops the work first, then frees the leases for the others. */
  #giveUp(names: string[]): void {
    this.options.logger.info({ leases: names }, 'leases given up');
    for (const name of names) this.#stop(name);
  }

  /**
   * Its fence goes at once (what runs stops at its next step); the stop itself (a pull in flight may
   * take minutes) goes on in the background, so that looks and renewals of the other leases go on;
   * then the lease is freed (a no-op when another replica has it by then).
   */
  #stop(name: string): void {
    this.#held.delete(name);
    const began = performance.now();
    const stopping = (async () => {
      try {
        await this.options.work.lost(name);
        await this.#table.release([name]);
        const ms = Math.round(performance.now() - began);
        // Until then the lease stays this replica's (renewed): another waits for it that long.
        if (ms > this.options.leaseMs)
          this.options.logger.warn({ lease: name, ms }, 'stopping the work under a lease took long');
        else this.options.logger.debug({ lease: name, ms }, 'work under a lease stopped');
      } catch (err) {
        this.options.logger.warn({ err, lease: name }, 'stopping work under a lease failed');
      } finally {
        this.#stopping.delete(name);
      }
    })();
    this.#stopping.set(name, stopping);
  }

  /** Gives every lease up (work stopped first) and leaves: the others take over at their next look. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.all([this.#renewOnce(), this.#balanceOnce()]); // the runs going now (none starts)
    this.#giveUp(this.held);
    await Promise.all(this.#stopping.values());
    await this.#table.leave().catch(() => {});
  }
}
