import type { PlatformEvent } from '../platform-events.js';
import type { Projection } from '../projection.js';
import { insertRows } from '../row-set.js';
import type { TableDef } from '../table-def.js';

/**
 * Every event, findable by actor, stream, type, instance and time: an index over the event log, whose
 * rows carry only what is searched on (the rest — stream, address, command and correlation ids, the
 * data — is read from the event itself, see queries/audit.ts). An instance's history is its rows here:
 * its own stream's events plus its allocation and release on the node. The one-line description is
 * written when the log is read (describe.ts), so better wording never needs a rebuild.
 */
export const auditLogTable: TableDef = {
  name: 'audit_log',
  key: ['position'],
  columns: {
    position: 'bigint NOT NULL',
    type: 'text NOT NULL',
    actor_user_id: 'text',
    recorded_at: 'timestamptz NOT NULL',
    instance_id: 'text',
  },
  // A filter by stream uses the events table's own (stream_id, stream_version) index; time is
  // (nearly) in insertion order, so a BRIN index serves it at almost no cost to build or keep.
  // Listed in the order events were written (position); commit order matters only to followers.
  indexes: ['actor_user_id, position', 'type, position', 'instance_id, position', 'USING brin (recorded_at)'],
};

function instanceOf(e: PlatformEvent): string | null {
  if (e.streamId.startsWith('instance-')) return e.streamId.slice('instance-'.length);
  if (e.type === 'ResourcesAllocated') return e.data.allocation.instanceId;
  if (e.type === 'ResourcesReleased') return e.data.instanceId;
  return null;
}

export const auditLogProjection: Projection = {
  name: 'audit_log',
  version: 1,
  tables: [auditLogTable],
  // The same rows straight from the events table: a rebuild of the audit log never leaves PostgreSQL.
  async fillFromLog({ client, schema }, upTo) {
    const result = await client.query(
      `INSERT INTO ${schema}.audit_log
       SELECT position, type, metadata->>'actorUserId',
              date_trunc('milliseconds', recorded_at), -- as a JavaScript Date carries it, like the live rows
              CASE WHEN stream_id LIKE 'instance-%' THEN substr(stream_id, 10)
                   WHEN type = 'ResourcesAllocated' THEN data->'allocation'->>'instanceId'
                   WHEN type = 'ResourcesReleased' THEN data->>'instanceId' END
       FROM events WHERE (transaction_id, position) <= ($1::text::xid8, $2::bigint)`,
      [upTo.transactionId.toString(), upTo.position.toString()],
    );
    return result.rowCount ?? 0;
  },
  apply: (ctx, events) =>
    insertRows(
      ctx,
      auditLogTable,
      events.map((e) => ({
        position: Number(e.position),
        type: e.type,
        actor_user_id: e.metadata.actorUserId,
        recorded_at: e.recordedAt.toISOString(),
        instance_id: instanceOf(e),
      })),
    ),
};
