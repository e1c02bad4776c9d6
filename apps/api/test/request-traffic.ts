/**
 * A bounded stream of API requests against one server (loopback only), every answer sorted: answered,
 * refused because the database is away (503 `database_unavailable` naming the request id), anything
 * else (unexpected), no answer in time (hung), or no connection at all (lost: the server is gone).
 */

export interface RequestRecord {
  what: string;
  /** What a write made (the image's name), to look for afterwards. */
  subject?: string;
  startedAt: number;
  endedAt: number;
  outcome: 'ok' | 'unavailable' | 'unexpected' | 'hung' | 'lost';
  detail: string;
}

export interface TrafficFigures {
  sent: number;
  ok: number;
  failed: number;
  hung: number;
  lost: number;
  unexpected: string[];
}

export interface Traffic {
  readonly records: RequestRecord[];
  /** Stops sending; resolves once every request in flight has its answer. */
  stop(): Promise<void>;
}

const HUNG_AFTER_MS = 20_000;

export function figures(records: readonly RequestRecord[]): TrafficFigures {
  const count = (o: RequestRecord['outcome']) => records.filter((r) => r.outcome === o).length;
  return {
    sent: records.length,
    ok: count('ok'),
    failed: records.length - count('ok'),
    hung: count('hung'),
    lost: count('lost'),
    unexpected: records.filter((r) => r.outcome === 'unexpected').map((r) => `${r.what}: ${r.detail}`),
  };
}

interface Request {
  what: string;
  subject?: string;
  path: string;
  method: 'GET' | 'POST';
  body?: unknown;
}

/** What one worker sends on its i-th turn: reads, writes (appends the runner projects), the audit export. */
function request(worker: number, i: number): Request {
  switch (i % 4) {
    case 0:
      return { what: 'images.list', method: 'GET', path: '/api/trpc/images.list' };
    case 1:
      return {
        what: 'images.create',
        subject: `load-${worker}-${i}`,
        method: 'POST',
        path: '/api/trpc/images.create',
        body: { name: `load-${worker}-${i}`, address: 'busybox:latest', listed: false },
      };
    case 2:
      return { what: 'auth.me', method: 'GET', path: '/api/trpc/auth.me' };
    default:
      return {
        what: 'audit export',
        method: 'GET',
        path: '/api/audit/export?format=jsonl&type=NodeRegistered',
      };
  }
}

async function send(baseUrl: string, token: string, req: Request, requestId: string): Promise<RequestRecord> {
  const startedAt = Date.now();
  const done = (outcome: RequestRecord['outcome'], detail = '') => ({
    what: req.what,
    subject: req.subject,
    startedAt,
    endedAt: Date.now(),
    outcome,
    detail,
  });
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${baseUrl}${req.path}`, {
      method: req.method,
      headers: {
        authorization: `Bearer ${token}`,
        'x-request-id': requestId,
        ...(req.body ? { 'content-type': 'application/json', 'idempotency-key': `key-${requestId}` } : {}),
      },
      body: req.body ? JSON.stringify(req.body) : undefined,
      signal: AbortSignal.timeout(HUNG_AFTER_MS),
    });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError') return done('hung', `no answer in ${HUNG_AFTER_MS} ms`);
    return done('lost', `${e.message} ${e.cause?.code ?? ''}`);
  }
  if (res.status === 200) return done('ok');
  const detail = `HTTP ${res.status} ${text.slice(0, 300)}`;
  if (res.status !== 503 || res.headers.get('x-request-id') !== requestId) return done('unexpected', detail);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return done('unexpected', detail);
  }
  // tRPC: { error: { message, data: { tianqiCode } } }; plain routes: { error: code, message }.
  const b = body as {
    error?: { message?: string; data?: { tianqiCode?: string } } | string;
    message?: string;
  };
  const code = typeof b.error === 'string' ? b.error : b.error?.data?.tianqiCode;
  const message = typeof b.error === 'string' ? b.message : b.error?.message;
  if (code !== 'database_unavailable' || !message?.includes(requestId)) return done('unexpected', detail);
  return done('unavailable', detail);
}

/**
 * `workers` loops, each sending one request at a time with a short pause between; bounded: it stops
 * by itself after `maxRequests` in all or `maxMs`, whichever comes first, or at `stop()`.
 */
export function startTraffic(
  baseUrl: string,
  token: string,
  options: { workers?: number; maxRequests?: number; maxMs?: number; pauseMs?: number } = {},
): Traffic {
  const records: RequestRecord[] = [];
  const maxRequests = options.maxRequests ?? 20_000;
  const deadline = Date.now() + (options.maxMs ?? 300_000);
  let stopped = false;
  let sent = 0;
  const loops = Array.from({ length: options.workers ?? 4 }, async (_, worker) => {
    for (let i = 0; !stopped && sent < maxRequests && Date.now() < deadline; i++) {
      sent++;
      records.push(await send(baseUrl, token, request(worker, i), `rq-${worker}-${i}`));
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 10));
    }
  });
  return {
    records,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
