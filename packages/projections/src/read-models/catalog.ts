import { foldRows, type Row, rowStamp, snakeChanges } from '../fold-rows.js';
import type { Projection } from '../projection.js';
import type { TableDef } from '../table-def.js';

export const imagesTable: TableDef = {
  name: 'images',
  key: ['image_id'],
  columns: {
    image_id: 'text NOT NULL',
    name: 'text NOT NULL',
    address: 'text NOT NULL',
    description: 'text NOT NULL',
    source: 'text NOT NULL',
    listed: 'boolean NOT NULL',
    supports_slicing: 'boolean NOT NULL',
    remark: 'text NOT NULL',
    deleted: 'boolean NOT NULL',
    ...rowStamp,
  },
};

export const imagesProjection: Projection = {
  name: 'images',
  version: 1,
  tables: [imagesTable],
  apply: (ctx, events) =>
    foldRows<Row>(ctx, imagesTable, 'image', events, (row, e) => {
      switch (e.type) {
        case 'ImageRegistered':
          return { ...snakeChanges(e.data), deleted: false, created_at: e.recordedAt.toISOString() };
        case 'ImageUpdated':
          return row && { ...row, ...snakeChanges(e.data.changes) };
        case 'ImageDeleted':
          return row && { ...row, deleted: true, listed: false };
        default:
          return row;
      }
    }),
};

export const specsTable: TableDef = {
  name: 'specs',
  key: ['spec_id'],
  columns: {
    spec_id: 'text NOT NULL',
    name: 'text NOT NULL',
    gpu_model: 'text',
    gpu_count: 'integer NOT NULL',
    vram_gb: 'double precision NOT NULL',
    slice: 'boolean NOT NULL',
    cpu_cores: 'double precision NOT NULL',
    memory_gb: 'double precision NOT NULL',
    system_disk_gb: 'integer NOT NULL',
    data_disk_gb: 'integer NOT NULL',
    price_per_hour: 'numeric(14,2) NOT NULL',
    listed: 'boolean NOT NULL',
    remark: 'text NOT NULL',
    deleted: 'boolean NOT NULL',
    ...rowStamp,
  },
};

export const specsProjection: Projection = {
  name: 'specs',
  version: 1,
  tables: [specsTable],
  apply: (ctx, events) =>
    foldRows<Row>(ctx, specsTable, 'spec', events, (row, e) => {
      switch (e.type) {
        case 'SpecCreated':
          return { ...snakeChanges(e.data), deleted: false, created_at: e.recordedAt.toISOString() };
        case 'SpecUpdated':
          return row && { ...row, ...snakeChanges(e.data.changes) };
        case 'SpecDeleted':
          return row && { ...row, deleted: true, listed: false };
        default:
          return row;
      }
    }),
};
