import type { FastifyInstance, FastifyRequest } from 'fastify';
import { instanceListAnswer, instanceListFilter, instanceListInput } from '../access/instance-list.js';
import { authenticate, requestOrigin } from '../access/request-auth.js';
import type { Services } from '../access/services.js';

const PATH = '/api/trpc/instances.list';

/**
 * `instances.list`, the busiest read (every client polls it, an admin's over every instance), answered
 * here when it can be, without tRPC's per-request machinery: in the API bench that machinery, with the
 * output schema and the serialising, was 80 % of a list's CPU under 50 clients. The answer is tRPC's
 * own, byte for byte: the page through the output schema, in tRPC's envelope (one call, or a batch of
 * that one call), made once while the read models stand still. The same rules as the procedure:
 * signed in, a browser's cookie only from our own Origin, a user's list always their own.
 *
 * Anything else goes on to tRPC and is answered there as always, errors included: not signed in, a
 * foreign Origin, input that does not parse or holds a NUL, a batch of several calls, a failure here.
 */
export function registerHotReads(app: FastifyInstance, services: Services): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'GET' || !req.url.startsWith(PATH)) return;
    const answer = await hotInstanceList(req, services).catch(() => null);
    // A buffer, so that the type is tRPC's own (a string would get "; charset=utf-8" added).
    if (answer !== null)
      return reply
        .header('content-type', 'application/json')
        .header('vary', 'trpc-accept, accept')
        .send(answer);
  });
}

/** The answer made here, or null when tRPC is to answer the request. */
export async function hotInstanceList(
  req: Pick<FastifyRequest, 'url' | 'headers'>,
  services: Services,
): Promise<Buffer | null> {
  // The path exactly as sent (no dot segments or escapes resolved into it), no body type, and an
  // answer in plain JSON asked for (tRPC streams JSON lines to a client that accepts them).
  if (req.url.split('?', 1)[0] !== PATH || req.headers['content-type'] !== undefined) return null;
  if (req.headers['trpc-accept'] !== undefined || req.headers.accept?.includes('application/jsonl'))
    return null;
  const url = new URL(req.url, 'http://server');
  const batch = url.searchParams.get('batch');
  if (batch !== null && batch !== '1') return null;
  const raw = url.searchParams.get('input');
  // NUL, raw or escaped in the JSON: tRPC refuses it with its path (an escaped backslash before "u0000"
  // goes there too, harmlessly).
  if (raw !== null && (raw.includes('\u0000') || raw.includes('\\u0000'))) return null;
  let input: unknown = raw === null ? undefined : JSON.parse(raw);
  if (batch === '1') {
    // A batch of this one call only: `{"0": input}`.
    if (
      typeof input !== 'object' ||
      input === null ||
      Array.isArray(input) ||
      Object.keys(input).join() !== '0'
    )
      return null;
    input = (input as Record<string, unknown>)['0'];
  }
  const parsed = instanceListInput.safeParse(input);
  if (!parsed.success) return null;
  const { session, viaCookie } = await authenticate(req.headers, services.sessions);
  if (!session) return null;
  if (viaCookie && requestOrigin(req.headers, services.config.server['public-origins']) === 'foreign')
    return null;
  return instanceListAnswer(services, instanceListFilter(session, parsed.data), batch === '1');
}
