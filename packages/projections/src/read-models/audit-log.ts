import { describeEvent } from '../describe.js';
import type { PlatformEvent } from '../platform-events.js';
import type { Projection, TableDef } from '../projection.js';
import { insertRows } from '../row-set.js';

/**
 * Every event, with who did it, from where, when, and a line saying what happened. An instance's
 * history is its rows here: its own stream's events plus its allocation and release on the node.
 */
export const auditLogTable: TableDef = {
  name: 'audit_log',
  key: ['position'],
  columns: {
    position: 'bigint NOT NULL',
    transaction_id: 'bigint NOT NULL',
    stream_id: 'text NOT NULL',
    stream_version: 'integer NOT NULL',
    type: 'text NOT NULL',
    actor_user_id: 'text',
    actor_ip: 'text',
    command_id: 'text',
    correlation_id: 'text',
    recorded_at: 'timestamptz NOT NULL',
    instance_id: 'text',
    summary: 'text NOT NULL',
  },
  indexes: [
    'transaction_id, position',
    'actor_user_id, transaction_id, position',
    'stream_id, stream_version',
    'type, transaction_id, position',
    'recorded_at',
    'instance_id, transaction_id, position',
  ],
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
  apply: (ctx, events) =>
    insertRows(
      ctx.client,
      ctx.schema,
      auditLogTable,
      events.map((e) => ({
        position: Number(e.position),
        transaction_id: Number(e.transactionId),
        stream_id: e.streamId,
        stream_version: e.version,
        type: e.type,
        actor_user_id: e.metadata.actorUserId,
        actor_ip: e.metadata.actorIp,
        command_id: e.metadata.commandId,
        correlation_id: e.metadata.correlationId,
        recorded_at: e.recordedAt.toISOString(),
        instance_id: instanceOf(e),
        summary: describeEvent(e),
      })),
    ),
};
