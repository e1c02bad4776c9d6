import { connect, type Socket } from 'node:net';

/**
 * A bounded flood of idle TCP connections to an SSH port on loopback, from several 127.0.0.x source
 * addresses (Linux routes all of 127.0.0.0/8 to lo, so any of them can be bound): `silent` ones send
 * nothing, `ident` ones send the SSH ident line and then stall mid-handshake. Every socket is
 * followed: when it was connected and when the server closed it.
 */
export interface FloodOptions {
  port: number;
  /** Source addresses, each opening `perAddress` connections. */
  addresses: string[];
  perAddress: number;
  mode: 'silent' | 'ident';
  /** Connections being opened at once (the rest wait their turn). */
  batch?: number;
  /** The whole opening must be over by then, or it stops and says so. */
  deadlineMs?: number;
}

export interface FloodSocket {
  address: string;
  socket: Socket;
  connectedAt: number | null;
  closedAt: number | null;
}

export class Flood {
  readonly sockets: FloodSocket[] = [];
  startedAt = 0;
  openedAt = 0;

  /** Sockets the server still holds. */
  get open(): FloodSocket[] {
    return this.sockets.filter((s) => s.connectedAt !== null && s.closedAt === null);
  }

  /** Opens the flood; resolves once every connection was accepted or refused. */
  static async throw(options: FloodOptions): Promise<Flood> {
    const flood = new Flood();
    const batch = options.batch ?? 250;
    const deadline = Date.now() + (options.deadlineMs ?? 60_000);
    const todo = options.addresses.flatMap((a) => Array.from({ length: options.perAddress }, () => a));
    flood.startedAt = Date.now();
    for (let i = 0; i < todo.length; i += batch) {
      if (Date.now() > deadline) throw new Error(`the flood did not open within its deadline (${i} opened)`);
      await Promise.all(todo.slice(i, i + batch).map((a) => flood.#one(a, options)));
    }
    flood.openedAt = Date.now();
    return flood;
  }

  #one(address: string, options: FloodOptions): Promise<void> {
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: options.port, localAddress: address });
      const entry: FloodSocket = { address, socket, connectedAt: null, closedAt: null };
      this.sockets.push(entry);
      socket.on('error', () => {});
      socket.on('data', () => {}); // what the server says (its ident) is read and dropped
      socket.once('connect', () => {
        entry.connectedAt = Date.now();
        if (options.mode === 'ident') socket.write('SSH-2.0-flood_1.0\r\n');
        resolve();
      });
      socket.once('close', () => {
        entry.closedAt = Date.now();
        resolve();
      });
    });
  }

  /** Waits (bounded) until the server has closed every socket; true when it has. */
  async allClosed(withinMs: number): Promise<boolean> {
    const deadline = Date.now() + withinMs;
    while (this.open.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return this.open.length === 0;
  }

  /** How many connections each source address still has open. */
  openPerAddress(): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.open) out.set(s.address, (out.get(s.address) ?? 0) + 1);
    return out;
  }

  /** The longest time a held socket stayed open (from its connect to its close by the server). */
  longestHeldMs(): number {
    let longest = 0;
    for (const s of this.sockets)
      if (s.connectedAt !== null && s.closedAt !== null)
        longest = Math.max(longest, s.closedAt - s.connectedAt);
    return longest;
  }

  /** Closes what is left (a test's cleanup). */
  destroy(): void {
    for (const s of this.sockets) s.socket.destroy();
  }
}

/** 127.0.0.<first> … 127.0.0.<first + n − 1>. */
export const loopbackAddresses = (first: number, n: number) =>
  Array.from({ length: n }, (_, i) => `127.0.0.${first + i}`);

/** The process's resident memory, in MB. */
export const rssMb = () => process.memoryUsage().rss / 1_048_576;
