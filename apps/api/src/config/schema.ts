import { dataDiskPolicySchema } from '@tianqi/domain';
import { z } from 'zod';

const port = z.number().int().min(1).max(65_535);

/**
 * The whole configuration, with its defaults. Keys follow the seed's `server/config.yaml` style
 * (kebab-case); every key can be overridden by an environment variable (see load.ts).
 */
export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: port.default(8888),
      /**
       * Where browsers reach the platform (https://gpu.example.com), comma-separated when several:
       * the origins a cookie-signed request or a terminal WebSocket may come from. Empty: the request's
       * own host only.
       */
      'public-origins': z.string().default(''),
      /**
       * A request must arrive whole (headers and body) within this: a client sending its body a byte
       * at a time is cut off (408) instead of holding a connection for ever. Streams that answer for
       * long (server-sent events, terminals) are not limited: their requests arrive at once.
       */
      'request-timeout-seconds': z.number().int().min(1).max(3600).default(30),
      /**
       * Load balancers in front (comma-separated addresses or CIDRs, e.g. `10.0.0.0/8`): a request from
       * one of them is taken to come from the client its X-Forwarded-For names (sign-in limits, the
       * audit log). Empty: the connection's own address, and X-Forwarded-For is ignored.
       */
      'trusted-proxies': z.string().default(''),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** A session not used for this long ends. */
      'session-idle-minutes': z.number().int().min(1).max(525_600).default(720),
      /** And none lives longer than this, used or not. */
      'session-max-hours': z.number().int().min(1).max(8760).default(168),
      /** Failed sign-ins allowed per user and address (4× that per address) in the window below. */
      'max-failures': z.number().int().min(1).max(1000).default(5),
      'lockout-minutes': z.number().int().min(1).max(1440).default(15),
      /** Mark the session cookie Secure (only sent over HTTPS): on behind a TLS proxy. */
      'secure-cookie': z.boolean().default(false),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** A bearer token /metrics asks for; empty: /metrics is open (counts only, nothing secret). */
      token: z.string().default(''),
    })
    .prefault({}),
  /** Where the platform keeps its state between runs: the embedded database, the SSH host key, … */
  'data-dir': z.string().min(1).default('./data'),
  database: z
    .strictObject({
      /** A PostgreSQL URL. Empty: an embedded PostgreSQL is started with its data under data-dir. */
      url: z.string().default(''),
      'embedded-port': port.default(54329),
      'pool-size': z.number().int().min(2).max(500).default(20),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  jumpbox: z
    .strictObject({
      enabled: z.boolean().default(true),
      port: port.default(2026),
      /** Path of an ed25519 host key; empty: one is generated once and kept in data-dir. */
      'host-key': z.string().default(''),
      banner: z.string().max(4096).default('欢迎使用SSH跳板机服务\r\n'),
      /** Address the jumpbox listens on. */
      host: z.string().min(1).default('0.0.0.0'),
      /** A session with no traffic either way for this long is closed. */
      'idle-minutes': z.number().int().min(1).max(10_080).default(60),
      /** A connection not signed in this long after its TCP accept is closed (OpenSSH's LoginGraceTime). */
      'login-grace-seconds': z.number().int().min(1).max(600).default(60),
      /** And one that has not finished its key exchange (ident line, KEXINIT) this long after it. */
      'handshake-seconds': z.number().int().min(1).max(600).default(20),
      /** Connections not signed in yet, in all and per source address; past either, refused at once. */
      'max-unauthenticated': z.number().int().min(1).max(100_000).default(100),
      'max-unauthenticated-per-address': z.number().int().min(1).max(100_000).default(10),
      /** SSH connections open at once; 0: from the process's open-file limit (docs/jumpbox.md). */
      'max-connections': z.number().int().min(0).max(1_000_000).default(0),
    })
    // Else connections not signed in yet could hold every SSH connection there may be.
    .refine((j) => j['max-connections'] === 0 || j['max-unauthenticated'] * 2 <= j['max-connections'], {
      message: 'max-unauthenticated may be at most half of max-connections',
      path: ['max-unauthenticated'],
    })
    .prefault({}),
  secrets: z
    .strictObject({
      /** base64 of 32 bytes (openssl rand -base64 32) sealing node secrets; empty: data-dir/secret.key. */
      key: z.string().default(''),
    })
    .prefault({}),
  /** The first admin, created at start when no user has this name. Nothing is created when empty. */
  admin: z
    .strictObject({
      username: z.string().default(''),
      password: z.string().default(''),
    })
    .prefault({}),
  sync: z
    .strictObject({
      'interval-seconds': z.number().int().min(1).max(3600).default(30),
      /** What the platform does about drift: only report it, or heal it (restart, recreate, remove orphans). */
      'drift-policy': z.enum(['report', 'heal']).default('heal'),
      /**
       * An instance whose /data holds more than its spec's data disk is warned at one sync; still over
       * at a later one it is stopped (`stop`) or only warned (`warn`).
       */
      'disk-policy': dataDiskPolicySchema.default('stop'),
      /** How long the sync waits for a node's disk-usage answer (`docker system df`) before it goes on. */
      'disk-usage-timeout-seconds': z.number().int().min(1).max(600).default(10),
    })
    .prefault({}),
  /** Several API servers on one database (docs/replicas.md); one server needs none of this. */
  replicas: z
    .strictObject({
      /** This server's name among the others, unique to it; empty: its host name and HTTP port. */
      id: z
        .string()
        .max(100)
        .regex(/^[\w.:@-]*$/, 'letters, digits and . : @ - _ only')
        .default(''),
      /**
       * How long a lease (a node's reconciler and sync, the read models) outlives its holder's last
       * renewal: a server that dies has its work taken over after about this long (plus a second).
       */
      'lease-seconds': z.number().int().min(2).max(300).default(5),
    })
    .prefault({}),
  docker: z
    .strictObject({
      /** Network mode for new containers; empty: Docker's default (bridge). */
      'network-mode': z.string().default(''),
      /** Seconds `docker stop` waits before it kills. */
      'stop-timeout-seconds': z.number().int().min(0).max(600).default(10),
      /** Docker calls at once per node. */
      'calls-per-node': z.number().int().min(1).max(64).default(4),
      /** On the first start, this engine (when it answers) becomes the first node; empty: never. */
      'local-socket': z.string().default('/var/run/docker.sock'),
      /** GPUs declared on that first node (it is CPU-only by default). */
      'local-gpu-count': z.number().int().min(0).max(64).default(0),
      'local-gpu-model': z.string().default(''),
      'local-vram-gb': z.number().min(0).max(1024).default(0),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;

/** The defaults, as a plain object: also the list of keys that environment variables may set. */
export const defaultConfig: Config = configSchema.parse({});
