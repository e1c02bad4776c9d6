import { Readable } from 'node:stream';
import { type AuditEntry, auditLogAfter } from '@tianqi/projections';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { auditFilterInput } from '../access/audit-filter.js';
import { describeZodError } from '../access/errors.js';
import { authenticate, originAllowed } from '../access/request-auth.js';
import type { Services } from '../access/services.js';
import { auditEntryView } from '../access/views.js';
import { replyDatabaseUnavailable } from './database-unavailable.js';

const exportQuery = auditFilterInput
  .omit({ limit: true, offset: true, after: true, before: true, order: true })
  .extend({
    format: z.enum(['jsonl', 'csv']).default('jsonl'),
    // In a URL: `types=A,B` (or the parameter repeated).
    types: z
      .preprocess((v) => (typeof v === 'string' ? v.split(',') : v), auditFilterInput.shape.types)
      .optional(),
  });

const COLUMNS: (keyof AuditEntry)[] = [
  'recordedAt',
  'position',
  'type',
  'streamId',
  'streamVersion',
  'instanceId',
  'actorUserId',
  'actorName',
  'actorIp',
  'commandId',
  'correlationId',
  'summary',
];

/**
 * Rows read at a time: a small first page, so the download starts at once, then larger ones, since
 * each page is a round trip (at 500 a page the trips were a quarter of an export's time).
 */
const FIRST_PAGE = 500;
const PAGE = 5_000;

/** RFC 4180: quoted when it holds a comma, quote or line break; a leading =+-@ is defused for spreadsheets. */
export function csvField(value: unknown): string {
  let text =
    value instanceof Date ? value.toISOString() : value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * `GET /api/audit/export?format=jsonl|csv&type=…&from=…`: the global audit log with the same filters
 * as audit.list, streamed page by page so a year of events never sits in memory. Admins only.
 */
export function registerAuditExport(app: FastifyInstance, services: Services): void {
  app.get('/api/audit/export', { errorHandler: replyDatabaseUnavailable }, async (req, reply) => {
    const { session, viaCookie } = await authenticate(req.headers, services.sessions);
    if (!session) return reply.code(401).send({ error: 'unauthorized', message: 'sign in first' });
    if (viaCookie && !originAllowed(req.headers, services.config.server['public-origins'])) {
      return reply.code(403).send({ error: 'forbidden', message: 'cross-site request refused' });
    }
    if (session.role !== 'admin') return reply.code(403).send({ error: 'forbidden', message: 'admins only' });
    const parsed = exportQuery.safeParse(req.query);
    if (!parsed.success)
      return reply.code(400).send({ error: 'validation', message: describeZodError(parsed.error) });
    const { format, ...filter } = parsed.data;
    // The first page before the answer starts: a database that is away is a 503, not a cut stream.
    const first = await auditLogAfter(services.pool, filter, 0, FIRST_PAGE);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    reply
      .header(
        'content-type',
        format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      )
      .header('content-disposition', `attachment; filename="tianqi-audit-${stamp}.${format}"`);
    const pages = async function* () {
      if (format === 'csv') yield `${COLUMNS.join(',')}\r\n`;
      // By position, not by offset: each page starts where the last ended, however far in.
      for (let page = first; ; ) {
        let chunk = '';
        for (const e of page) {
          chunk +=
            format === 'csv'
              ? `${COLUMNS.map((c) => csvField(e[c])).join(',')}\r\n`
              : `${JSON.stringify(auditEntryView.parse(e))}\n`;
        }
        if (chunk) yield chunk;
        if (page.length < (page === first ? FIRST_PAGE : PAGE)) return;
        page = await auditLogAfter(services.pool, filter, page.at(-1)!.position, PAGE);
      }
    };
    // Back-pressure: the next page is read when the client has taken this one.
    return reply.send(Readable.from(pages()));
  });
}
