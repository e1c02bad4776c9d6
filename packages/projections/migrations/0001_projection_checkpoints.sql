-- Read models live in schema rm; each projection creates its own tables there (and rebuilds them in a
-- schema of its own before swapping them in), so only the checkpoints are migrated here.
CREATE SCHEMA IF NOT EXISTS rm;

CREATE TABLE projection_checkpoints (
  name           text PRIMARY KEY,
  -- The projection's definition version: a new version is rebuilt from the log at start.
  version        integer NOT NULL,
  transaction_id xid8 NOT NULL,
  position       bigint NOT NULL,
  rebuilt_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
