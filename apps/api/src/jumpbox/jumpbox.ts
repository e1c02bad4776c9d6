import { type AddressInfo, createServer, type Server } from 'node:net';
import type { Logger } from 'pino';
import ssh2 from 'ssh2';
import { clientIp } from '../access/request-auth.js';
import type { Services } from '../access/services.js';
import { settleWithin } from '../shutdown/settle-within.js';
import { Admission, type AdmissionLimits, DEFAULT_ADMISSION } from './admission.js';
import { Connection, drop } from './connection.js';
import { openFileLimit, sshConnectionBudget } from './descriptors.js';
import { loadHostKey } from './host-key.js';
import { poolPadding } from './padding-pool.js';

export interface JumpboxOptions {
  port: number;
  host: string;
  hostKey: string;
  dataDir: string;
  banner: string;
  idleMinutes: number;
  /** Before sign-in: grace time, handshake bound, caps (defaults: DEFAULT_ADMISSION). */
  admission?: Partial<AdmissionLimits>;
  /** SSH connections open at once; 0 or absent: from the open-file limit (descriptors.ts). */
  maxConnections?: number;
}

/**
 * The SSH jumpbox: `ssh -p 2026 user@host` signs in with the platform's accounts (password or a
 * registered public key) and gets a menu of their instances; `user+instance@host` goes straight to one;
 * `user+instance@host 'cmd'` runs one command with its exit code and its stdout and stderr apart (scp
 * and rsync work through it). Every route checks ownership on the server.
 */
export class Jumpbox {
  /** The listening socket: ours, not ssh2's, so a refused connection never reaches ssh2. */
  #listener: Server | null = null;
  #admission: Admission | null = null;
  readonly #connections = new Set<ssh2.Connection>();
  readonly #sessions = new Set<Promise<void>>();
  readonly #log: Logger;

  constructor(
    private readonly services: Services,
    private readonly options: JumpboxOptions,
  ) {
    this.#log = services.logger.child({ component: 'jumpbox' });
  }

  async start(): Promise<number> {
    poolPadding();
    const hostKey = await loadHostKey(this.options.hostKey, this.options.dataDir);
    const limit = openFileLimit();
    const maxConnections = sshConnectionBudget(limit, this.options.maxConnections ?? 0);
    const limits = { ...DEFAULT_ADMISSION, ...this.options.admission };
    // Connections not signed in yet never take more than half a budget read off a small open-file
    // limit: the rest is for users. (A configured max-connections is checked against it by the config.)
    if (!this.options.maxConnections) {
      limits.maxUnauthenticated = Math.min(
        limits.maxUnauthenticated,
        Math.max(1, Math.floor(maxConnections / 2)),
      );
    }
    const admission = new Admission(limits, this.#log);
    const server = new ssh2.Server(
      {
        hostKeys: [hostKey],
        banner: this.options.banner,
        ident: 'Tianqi',
        keepaliveInterval: 30_000,
        keepaliveCountMax: 4,
      },
      (client, info) => {
        admission.follow(client);
        this.#accept(client, clientIp(info.ip));
      },
    );
    const listener = createServer((socket) => {
      if (admission.admit(socket)) server.injectSocket(socket);
    });
    // Past the budget Node closes the accepted handle itself, before a socket object exists.
    listener.maxConnections = maxConnections;
    listener.on('drop', (data?: { remoteAddress?: string }) =>
      admission.refuse('descriptors', clientIp(data?.remoteAddress) ?? 'unknown'),
    );
    this.#listener = listener;
    this.#admission = admission;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.options.port, this.options.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err: Error) => this.#log.error({ err }, 'SSH jumpbox error'));
    const port = (listener.address() as AddressInfo).port;
    this.#log.info(
      { port, maxConnections, openFileLimit: limit, ...admission.limits },
      'SSH jumpbox listening',
    );
    return port;
  }

  /** Stops taking connections, closes the open ones, and waits for their sessions to be recorded. */
  async stop(): Promise<void> {
    const listener = this.#listener;
    if (!listener) return;
    this.#listener = null;
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    this.#admission?.closeAll();
    for (const c of this.#connections) drop(c);
    await settleWithin([...this.#sessions], 10_000);
    await closed;
  }

  #accept(client: ssh2.Connection, ip: string | null): void {
    this.#connections.add(client);
    // Held by the listeners it puts on the client: it goes when the client does.
    new Connection(client, ip, {
      services: this.services,
      log: this.#log,
      idleMinutes: this.options.idleMinutes,
      track: (work) => {
        this.#sessions.add(work);
        void work.finally(() => this.#sessions.delete(work));
      },
    });
    client.on('close', () => this.#connections.delete(client));
  }
}
