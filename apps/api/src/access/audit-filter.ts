import { idSchema, momentSchema, queryTextSchema } from '@tianqi/domain';
import { z } from 'zod';

/** The filters of the global audit log (also what /api/audit/export takes). */
export const auditFilterInput = z.strictObject({
  actorUserId: queryTextSchema(200).optional(),
  streamId: queryTextSchema(200).optional(),
  type: queryTextSchema(100).optional(),
  instanceId: idSchema.optional(),
  from: momentSchema.optional(),
  to: momentSchema.optional(),
  limit: z.number().int().min(1).max(500).default(50),
  offset: z.number().int().min(0).max(1_000_000).default(0),
});
