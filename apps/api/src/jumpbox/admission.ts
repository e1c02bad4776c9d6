import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type ssh2 from 'ssh2';
import { clientIp } from '../access/request-auth.js';
import { addressBlock } from '../auth/login-limiter.js';

/** What the jumpbox lets in before sign-in (the `jumpbox.*` keys of the same names). */
export interface AdmissionLimits {
  /** From the TCP accept to a successful sign-in (OpenSSH's LoginGraceTime). */
  loginGraceSeconds: number;
  /** From the TCP accept to the end of the key exchange: the ident line and KEXINIT included. */
  handshakeSeconds: number;
  /** Connections not signed in yet, in all and per source address (OpenSSH's MaxStartups). */
  maxUnauthenticated: number;
  maxUnauthenticatedPerAddress: number;
}

export const DEFAULT_ADMISSION: AdmissionLimits = {
  loginGraceSeconds: 60,
  handshakeSeconds: 20,
  maxUnauthenticated: 100,
  maxUnauthenticatedPerAddress: 10,
};

export type Refusal = 'unauthenticated' | 'per-address' | 'descriptors';

interface Pending {
  address: string;
  timer: NodeJS.Timeout;
  acceptedAt: number;
}

/**
 * Admission of SSH connections before sign-in. Every accepted socket is counted as unauthenticated
 * from the TCP accept (ssh2 only hears of a connection once its ident line arrives, so a silent client
 * would otherwise be invisible and kept forever) until it signs in or closes; past a cap it is
 * destroyed at once, before ssh2 allocates anything for it. A connection that has not finished its key
 * exchange within the handshake bound, or not signed in within the grace time, is destroyed.
 */
export class Admission {
  readonly #pending = new Map<Socket, Pending>();
  readonly #perAddress = new Map<string, number>();
  readonly #refused: Record<Refusal, number> = { unauthenticated: 0, 'per-address': 0, descriptors: 0 };
  #lastWarning = 0;

  constructor(
    readonly limits: AdmissionLimits,
    private readonly log: Logger,
  ) {}

  /** Connections not signed in yet. */
  get unauthenticated(): number {
    return this.#pending.size;
  }

  /** Connections refused since the start, by reason. */
  get refused(): Readonly<Record<Refusal, number>> {
    return this.#refused;
  }

  /** A socket just accepted: true when it may go on to ssh2, else it is already destroyed. */
  admit(socket: Socket): boolean {
    // IPv6 by its /64, which one subscriber usually has whole (as the sign-in limiter counts them).
    const ip = clientIp(socket.remoteAddress);
    const address = ip ? addressBlock(ip) : 'unknown';
    const fromAddress = this.#perAddress.get(address) ?? 0;
    const refusal: Refusal | null =
      this.#pending.size >= this.limits.maxUnauthenticated
        ? 'unauthenticated'
        : fromAddress >= this.limits.maxUnauthenticatedPerAddress
          ? 'per-address'
          : null;
    if (refusal) {
      socket.destroy();
      this.refuse(refusal, address);
      return false;
    }
    this.#perAddress.set(address, fromAddress + 1);
    const acceptedAt = Date.now();
    const limit = Math.min(this.limits.handshakeSeconds, this.limits.loginGraceSeconds);
    const timer = setTimeout(() => this.#expire(socket, 'handshake'), limit * 1000).unref();
    this.#pending.set(socket, { address, timer, acceptedAt });
    socket.once('close', () => this.#release(socket));
    return true;
  }

  /** Follows an ssh2 connection of an admitted socket: its key exchange, then its sign-in. */
  follow(client: ssh2.Connection): void {
    const socket = (client as ssh2.Connection & { _sock?: Socket })._sock;
    if (!socket) return;
    client.once('handshake', () => {
      const pending = this.#pending.get(socket);
      if (!pending) return;
      // The rest of the grace time, counted from the accept as OpenSSH counts LoginGraceTime.
      clearTimeout(pending.timer);
      const left = pending.acceptedAt + this.limits.loginGraceSeconds * 1000 - Date.now();
      pending.timer = setTimeout(() => this.#expire(socket, 'grace'), Math.max(0, left)).unref();
    });
    // Signed in: no longer unauthenticated (jumpbox.idle-minutes takes over).
    client.once('ready', () => this.#release(socket));
  }

  /** Counts a refusal and says so in the log, at most once a minute (a flood must not flood the log). */
  refuse(reason: Refusal, address: string): void {
    this.#refused[reason]++;
    const now = Date.now();
    if (now - this.#lastWarning < 60_000) return;
    this.#lastWarning = now;
    this.log.warn(
      { reason, address, refused: { ...this.#refused }, unauthenticated: this.#pending.size },
      'SSH connections refused: too many not signed in, or no descriptors left for SSH',
    );
  }

  /** Destroys every connection not signed in yet (the jumpbox is stopping). */
  closeAll(): void {
    for (const socket of [...this.#pending.keys()]) socket.destroy();
  }

  #expire(socket: Socket, bound: 'handshake' | 'grace'): void {
    const pending = this.#pending.get(socket);
    this.log.debug({ address: pending?.address, bound }, 'SSH connection closed before sign-in');
    this.#release(socket);
    socket.destroy();
  }

  #release(socket: Socket): void {
    const pending = this.#pending.get(socket);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.#pending.delete(socket);
    const left = (this.#perAddress.get(pending.address) ?? 1) - 1;
    if (left > 0) this.#perAddress.set(pending.address, left);
    else this.#perAddress.delete(pending.address);
  }
}
