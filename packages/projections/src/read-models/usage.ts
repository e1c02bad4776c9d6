import { type Row, streamKey } from '../fold-rows.js';
import type { PlatformEvent } from '../platform-events.js';
import type { Projection } from '../projection.js';
import { insertRows, RowSet } from '../row-set.js';
import type { TableDef } from '../table-def.js';

/**
 * Running time is billed from what Docker was seen doing, not from what was asked: an interval opens
 * when the container is seen running and closes when it is seen exited, failed or removed. A node
 * that cannot be reached ("unknown") keeps the interval open: the container most likely still runs.
 */
export const usageIntervalsTable: TableDef = {
  name: 'usage_intervals',
  key: ['instance_id', 'seq'],
  columns: {
    instance_id: 'text NOT NULL',
    seq: 'integer NOT NULL',
    owner_id: 'text NOT NULL',
    price_per_hour: 'numeric(14,2) NOT NULL',
    started_at: 'timestamptz NOT NULL',
    /** Null while it runs. */
    stopped_at: 'timestamptz',
  },
  indexes: ['owner_id, started_at', 'started_at'],
};

/** Per instance: its owner and price, and whether an interval is open. */
export const usageInstancesTable: TableDef = {
  name: 'usage_instances',
  key: ['instance_id'],
  columns: {
    instance_id: 'text NOT NULL',
    owner_id: 'text NOT NULL',
    price_per_hour: 'numeric(14,2) NOT NULL',
    intervals: 'integer NOT NULL',
    open_since: 'timestamptz',
  },
};

interface UsageInstance extends Row {
  owner_id: string;
  price_per_hour: number;
  intervals: number;
  open_since: string | null;
}

const OPENS = new Set(['ContainerStarted', 'ContainerRestarted']);
const CLOSES = new Set(['ContainerExited', 'InstanceFailed', 'ContainerRemoved']);

export const usageProjection: Projection = {
  name: 'usage',
  version: 1,
  tables: [usageIntervalsTable, usageInstancesTable],
  async apply(ctx, events) {
    const mine = events.filter(
      (e: PlatformEvent) => e.type === 'InstanceCreated' || OPENS.has(e.type) || CLOSES.has(e.type),
    );
    if (mine.length === 0) return;
    const instances = new RowSet<UsageInstance>(ctx, usageInstancesTable);
    await instances.load(mine.map((e) => streamKey(e, 'instance')));
    const closed: Row[] = [];
    for (const e of mine) {
      const id = streamKey(e, 'instance');
      const at = e.recordedAt.toISOString();
      if (e.type === 'InstanceCreated') {
        instances.set(id, {
          instance_id: id,
          owner_id: e.data.ownerId,
          price_per_hour: e.data.spec.pricePerHour,
          intervals: 0,
          open_since: null,
        });
        continue;
      }
      const row = instances.get(id);
      if (!row) continue;
      if (OPENS.has(e.type) && row.open_since === null) {
        instances.set(id, { ...row, open_since: at });
      } else if (CLOSES.has(e.type) && row.open_since !== null) {
        closed.push({
          instance_id: id,
          seq: row.intervals + 1,
          owner_id: row.owner_id,
          price_per_hour: row.price_per_hour,
          started_at: row.open_since,
          stopped_at: at,
        });
        instances.set(id, { ...row, intervals: row.intervals + 1, open_since: null });
      }
    }
    await insertRows(ctx, usageIntervalsTable, closed);
    await instances.flush();
  },
};
