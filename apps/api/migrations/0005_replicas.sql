-- Several API servers ("replicas") on one database. `replicas`: who is alive (each renews its row
-- while it runs). `leases`: who holds each piece of single-writer work (the read-model runner, each
-- node's reconciler and sync), until when, and its fencing token (raised at every change of holder).
-- The design, and why a lease table and not advisory locks: docs/replicas.md.
CREATE TABLE replicas (
  replica text PRIMARY KEY,
  incarnation uuid NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

CREATE TABLE leases (
  name text PRIMARY KEY,
  replica text,
  incarnation uuid,
  token bigint NOT NULL DEFAULT 0,
  acquired_at timestamptz,
  expires_at timestamptz NOT NULL DEFAULT '-infinity'
);

-- Taking a lease holds this key exclusively for its transaction; a fenced append holds it shared, so
-- a takeover waits for appends under the old token to commit, and appends after it see the new one.
CREATE FUNCTION tianqi_lease_key(lease text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtextextended('tianqi_lease:' || lease, 0) $$;

-- An event whose metadata carries `fence` ("<lease>#<token>") is written only while that token still
-- holds the lease: a server that lost it (a pause, a cut network) cannot record anything late.
CREATE FUNCTION tianqi_check_fence() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  fence text := NEW.metadata->>'fence';
  lease text := substring(fence FROM '^(.*)#[0-9]+$');
  wanted bigint := substring(fence FROM '#([0-9]+)$')::bigint;
  held record;
BEGIN
  IF lease IS NULL OR wanted IS NULL THEN
    RAISE EXCEPTION 'malformed fence "%"', fence USING ERRCODE = 'TQ101';
  END IF;
  PERFORM pg_advisory_xact_lock_shared(tianqi_lease_key(lease));
  SELECT token, expires_at INTO held FROM leases WHERE name = lease;
  IF NOT FOUND OR held.token <> wanted OR held.expires_at <= clock_timestamp() THEN
    RAISE EXCEPTION 'lease % is no longer held under token %', lease, wanted
      USING ERRCODE = 'TQ101', DETAIL = json_build_object('lease', lease, 'token', wanted)::text;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER events_fence BEFORE INSERT ON events
FOR EACH ROW WHEN (NEW.metadata ? 'fence') EXECUTE FUNCTION tianqi_check_fence();
