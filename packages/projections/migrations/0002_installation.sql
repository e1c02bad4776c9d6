-- This installation's id: its containers carry it as a label, so two installations sharing a Docker
-- engine never take each other's containers for orphans.
CREATE TABLE installation (
  id         text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation (id) VALUES (substr(md5(random()::text || clock_timestamp()::text), 1, 12));
