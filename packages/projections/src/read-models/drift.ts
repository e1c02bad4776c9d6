import type { Row } from '../fold-rows.js';
import type { PlatformEvent } from '../platform-events.js';
import type { Projection } from '../projection.js';
import { RowSet } from '../row-set.js';
import type { TableDef } from '../table-def.js';

/**
 * Where Docker differs from what was asked, now and before: one row per (instance, kind) or orphan
 * container, open until the sync sees it resolved. Its history is in the audit log.
 */
export const driftTable: TableDef = {
  name: 'drift',
  key: ['drift_id'],
  columns: {
    drift_id: 'text NOT NULL',
    subject: 'text NOT NULL',
    instance_id: 'text',
    node_id: 'text',
    container_id: 'text',
    kind: 'text NOT NULL',
    detail: 'text NOT NULL',
    open: 'boolean NOT NULL',
    detected_at: 'timestamptz NOT NULL',
    resolved_at: 'timestamptz',
  },
  indexes: ['open, detected_at'],
};

function driftIdOf(e: PlatformEvent): string | null {
  switch (e.type) {
    case 'DriftDetected':
    case 'DriftResolved':
      return `${e.streamId}:${e.data.kind}`;
    case 'OrphanContainerFound':
    case 'OrphanContainerGone':
      return `${e.streamId}:orphan:${e.data.containerId}`;
    default:
      return null;
  }
}

export const driftProjection: Projection = {
  name: 'drift',
  version: 1,
  tables: [driftTable],
  async apply(ctx, events) {
    const mine = events.filter((e) => driftIdOf(e) !== null);
    if (mine.length === 0) return;
    const rows = new RowSet<Row>(ctx, driftTable);
    await rows.load(mine.map((e) => driftIdOf(e)!));
    for (const e of mine) {
      const id = driftIdOf(e)!;
      const at = e.recordedAt.toISOString();
      const reopen = (fields: Row) =>
        rows.set(id, { drift_id: id, open: true, detected_at: at, resolved_at: null, ...fields });
      const close = () => {
        const row = rows.get(id);
        if (row) rows.set(id, { ...row, open: false, resolved_at: at });
      };
      switch (e.type) {
        case 'DriftDetected':
          reopen({
            subject: 'instance',
            instance_id: e.streamId.slice('instance-'.length),
            node_id: null,
            container_id: null,
            kind: e.data.kind,
            detail: e.data.detail,
          });
          break;
        case 'OrphanContainerFound':
          reopen({
            subject: 'node',
            instance_id: e.data.instanceId || null,
            node_id: e.streamId.slice('node-'.length),
            container_id: e.data.containerId,
            kind: 'orphan',
            detail: `container ${e.data.name} has no instance`,
          });
          break;
        default:
          close();
      }
    }
    await rows.flush();
  },
};
