import { idSchema, observedStateSchema } from '@tianqi/domain';
import { listInstances } from '@tianqi/projections';
import { z } from 'zod';
import type { Services } from './services.js';
import { instanceView, pageOf } from './views.js';

/** What `instances.list` takes: filters and a page. */
export const instanceListInput = z
  .strictObject({
    ownerId: idSchema.optional(),
    nodeId: idSchema.optional(),
    desired: z.enum(['running', 'stopped', 'deleted']).optional(),
    observed: observedStateSchema.optional(),
    name: z.string().max(63).optional(),
    includeDeleted: z.boolean().default(false),
    limit: z.number().int().min(1).max(500).default(50),
    offset: z.number().int().min(0).max(1_000_000).default(0),
  })
  .default({ includeDeleted: false, limit: 50, offset: 0 });

export const instanceListOutput = pageOf(instanceView);

type ListFilter = z.output<typeof instanceListInput>;

/** Admins list whatever they ask for; a user's list is always their own, whatever owner they name. */
export function instanceListFilter(user: { userId: string; role: 'admin' | 'user' }, input: ListFilter) {
  return { ...input, ownerId: user.role === 'admin' ? input.ownerId : user.userId };
}

/** The page, computed once while the read models stand still (the read cache). */
export function readInstanceList(services: Services, filter: ListFilter) {
  return services.reads.get(`instances.list ${JSON.stringify(filter)}`, () =>
    listInstances(services.pool, filter),
  );
}

/**
 * The same page as tRPC's answer to a GET of it, ready to send: the page through the output schema,
 * serialised in tRPC's envelope (one call, or a batch of that one call), kept the same way — the
 * busiest read's bytes made once, not at every request (http/hot-reads.ts).
 */
export function instanceListAnswer(services: Services, filter: ListFilter, batch: boolean): Promise<Buffer> {
  return services.reads.get(`instances.list answer ${batch} ${JSON.stringify(filter)}`, async () => {
    const data = JSON.stringify(instanceListOutput.parse(await readInstanceList(services, filter)));
    const envelope = `{"result":{"data":${data}}}`;
    return Buffer.from(batch ? `[${envelope}]` : envelope);
  });
}
