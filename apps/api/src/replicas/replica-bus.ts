import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';

const CHANNEL = 'tianqi_replicas';
/** NOTIFY payloads stay under PostgreSQL's 8000 bytes: instance ids go in slices of this many. */
const IDS_PER_MESSAGE = 150;

/** What one replica tells the others. */
export const busMessageSchema = z.discriminatedUnion('kind', [
  /** "Converge now": the owners of these instances' nodes act on them. */
  z.object({ kind: z.literal('converge'), instanceIds: z.array(z.string().max(100)).max(IDS_PER_MESSAGE) }),
  /** "Sync now": every replica syncs the nodes it holds. */
  z.object({ kind: z.literal('sync') }),
  /** A sign-in failed or succeeded here: the others count it too (one lockout across replicas). */
  z.object({
    kind: z.enum(['login-failure', 'login-success']),
    username: z.string().max(200),
    ip: z.string().max(100).nullable(),
  }),
  /** A session ended, or a user's sessions did: forget them now (the sender waits for the answers). */
  z.object({
    kind: z.literal('forget'),
    sessionId: z.string().max(100).optional(),
    userId: z.string().max(100).optional(),
  }),
  /** The answer to a message that asked for one. */
  z.object({ kind: z.literal('ack'), ask: z.string().max(100) }),
]);
export type BusMessage = z.infer<typeof busMessageSchema>;

const envelope = z.object({ from: z.string(), ask: z.string().optional(), message: z.unknown() });

/**
 * Messages between the replicas on one database, through LISTEN/NOTIFY: sent on the pool, heard on
 * a connection of its own that comes back after a lost database. A replica does not hear its own.
 * Nothing here must be lost for correctness: the leases and the event log are the truth, these only
 * make things happen sooner (or share a sign-in count, which a lost message only loosens).
 */
export class ReplicaBus {
  readonly #handlers = new Set<(m: BusMessage) => void>();
  #client: pg.Client | null = null;
  #closed = false;
  #retry: NodeJS.Timeout | null = null;
  /** Who sent a message: this process's own are not heard back. */
  readonly #incarnation = randomUUID();
  /** Messages sent with `ask`, waiting for answers: who answered so far, and the wake-up. */
  readonly #asks = new Map<string, { from: Set<string>; want: number; done: () => void }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
    private readonly logger: Logger,
  ) {}

  on(handler: (m: BusMessage) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /**
   * Tells the other replicas and waits until `answers` of them have acted on it (each answers once its
   * handlers ran), or `timeoutMs` (a replica that died meanwhile serves nothing anyway).
   */
  async ask(message: BusMessage, answers: number, timeoutMs = 1_000): Promise<void> {
    if (answers <= 0) return;
    const ask = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<void>((resolve) => {
      this.#asks.set(ask, { from: new Set(), want: answers, done: resolve });
      timer = setTimeout(resolve, timeoutMs);
    });
    this.#notify(JSON.stringify({ from: this.#incarnation, ask, message }), message.kind);
    await answered;
    clearTimeout(timer);
    this.#asks.delete(ask);
  }

  #notify(payload: string, kind: string): void {
    this.pool
      .query('SELECT pg_notify($1, $2)', [CHANNEL, payload])
      .catch((err: unknown) => this.logger.warn({ err, kind }, 'could not tell the other replicas'));
  }

  /** Tells the other replicas (best effort: a failure is logged). */
  send(message: BusMessage): void {
    const messages =
      message.kind === 'converge'
        ? chunks(message.instanceIds).map((instanceIds) => ({ kind: 'converge' as const, instanceIds }))
        : [message];
    for (const m of messages) this.#notify(JSON.stringify({ from: this.#incarnation, message: m }), m.kind);
  }

  async listen(attempt = 0): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.connectionString });
    const again = () => {
      if (this.#client !== client) return;
      this.#client = null;
      client.removeAllListeners();
      client.on('error', () => {});
      client.end().catch(() => {});
      this.#schedule(0);
    };
    client.on('error', again);
    client.on('end', again);
    client.on('notification', (n) => this.#heard(n.payload));
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      if (this.#client === client) this.#client = null;
      client.removeAllListeners();
      client.on('error', () => {});
      client.end().catch(() => {});
      if (attempt === 0) this.logger.warn({ err }, 'replica messages: listening failed; trying again');
      this.#schedule(attempt + 1);
    }
  }

  #schedule(attempt: number): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(
      () => {
        this.#retry = null;
        void this.listen(attempt);
      },
      Math.min(100 * 2 ** attempt, 5_000),
    );
  }

  #heard(payload: string | undefined): void {
    let parsed: BusMessage;
    let e: z.infer<typeof envelope>;
    try {
      e = envelope.parse(JSON.parse(payload ?? ''));
      if (e.from === this.#incarnation) return;
      parsed = busMessageSchema.parse(e.message);
    } catch (err) {
      this.logger.warn({ err }, 'a replica message could not be read');
      return;
    }
    if (parsed.kind === 'ack') {
      const waiting = this.#asks.get(parsed.ask);
      waiting?.from.add(e.from);
      if (waiting && waiting.from.size >= waiting.want) waiting.done();
      return;
    }
    for (const h of this.#handlers) {
      try {
        h(parsed);
      } catch (err) {
        this.logger.warn({ err, kind: parsed.kind }, 'a replica message failed');
      }
    }
    if (e.ask) this.send({ kind: 'ack', ask: e.ask });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}

function chunks(ids: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_MESSAGE) out.push(ids.slice(i, i + IDS_PER_MESSAGE));
  return out;
}
