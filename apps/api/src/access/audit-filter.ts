import { idSchema, momentSchema, queryTextSchema } from '@tianqi/domain';
import { z } from 'zod';

/** The filters of the global audit log (also what /api/audit/export takes). */
export const auditFilterInput = z.strictObject({
  actorUserId: queryTextSchema(200).optional(),
  streamId: queryTextSchema(200).optional(),
  type: queryTextSchema(100).optional(),
  /** Any of these types. */
  types: z.array(queryTextSchema(100)).min(1).max(50).optional(),
  instanceId: idSchema.optional(),
  nodeId: idSchema.optional(),
  from: momentSchema.optional(),
  to: momentSchema.optional(),
  /** Keyset paging by position (a page's last or first entry): no offset to skip past. */
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  before: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  order: z.enum(['asc', 'desc']).default('asc'),
  limit: z.number().int().min(1).max(500).default(50),
  offset: z.number().int().min(0).max(1_000_000).default(0),
});
