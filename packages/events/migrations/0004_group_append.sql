-- Group commit: several appends (each to one or more streams, each with its own expected versions and
-- command id) in one transaction, one round trip and one commit. Each append's outcome is its own: a
-- stale expected version fails that append alone, and a command id seen before answers with its
-- first result; the others are written.
--   p_appends: [{"commandId": text | null, "metadata": {...},
--                "batches": [{"streamId": text, "expectedVersion": "any" | "no_stream" | "<int>",
--                             "events": [{"type": text, "data": {...}}]}]}]
--   returns, in the same order: [{"ok": result} | {"duplicate": result} |
--                                {"conflict": {"streamId", "expected", "actual"}}]
--   where result is {"transactionId": text, "streams": [{"streamId", "fromVersion", "toVersion",
--                    "firstPosition", "lastPosition"}]}.
-- The appends of a group touch different streams and carry different command ids (the caller groups
-- them so), which lets one statement check and write them all: each is judged against the log as it
-- was before the group. Every stream and command lock of the group is taken, in a fixed order,
-- before the transaction writes anything and so before it is given a transaction id (see 0003):
-- whoever appends to a stream after another has committed to it still gets a larger transaction id.
-- The events are written in the order of the appends, and of the events within each.
CREATE FUNCTION tianqi_append_group(p_appends jsonb) RETURNS jsonb
-- The plan's estimates (100 rows per JSON array) look dear enough to JIT-compile it, which costs
-- hundreds of milliseconds for a statement that takes one.
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
  v_outcomes jsonb;
BEGIN
  IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
    RAISE EXCEPTION 'an append must be the first write of its transaction' USING ERRCODE = 'TQ002';
  END IF;

  -- In key order, so that two transactions never wait for each other's locks in a cycle.
  PERFORM pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT k FROM (
      SELECT hashtextextended('stream:' || (b->>'streamId'), 0) AS k
        FROM jsonb_array_elements(p_appends) a, jsonb_array_elements(a->'batches') b
      UNION ALL
      SELECT hashtextextended('command:' || (a->>'commandId'), 0)
        FROM jsonb_array_elements(p_appends) a WHERE a->>'commandId' IS NOT NULL
    ) keys ORDER BY k
  ) sorted;

  -- A statement of its own, so its snapshot is taken once the locks are held: it sees what the
  -- transactions that held them committed.
  WITH appends AS (
    SELECT ai, a->>'commandId' AS command_id, a->'metadata' AS metadata, a->'batches' AS batches
    FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS x(a, ai)
  ),
  batches AS (
    SELECT ap.ai, bi, b->>'streamId' AS stream_id, b->>'expectedVersion' AS expected, b->'events' AS events,
           (SELECT coalesce(max(e.stream_version), 0) FROM events e WHERE e.stream_id = b->>'streamId') AS current
    FROM appends ap, jsonb_array_elements(ap.batches) WITH ORDINALITY AS y(b, bi)
  ),
  duplicates AS (
    SELECT ap.ai, c.result FROM appends ap JOIN commands c ON c.command_id = ap.command_id
  ),
  conflicts AS (
    SELECT DISTINCT ON (ai) ai,
           jsonb_build_object('streamId', stream_id, 'expected', expected, 'actual', current) AS conflict
    FROM batches
    WHERE CASE expected WHEN 'any' THEN false WHEN 'no_stream' THEN current <> 0
                        ELSE expected::integer <> current END
      AND ai NOT IN (SELECT ai FROM duplicates)
    ORDER BY ai, bi
  ),
  accepted AS (
    SELECT b.* FROM batches b
    WHERE b.ai NOT IN (SELECT ai FROM duplicates) AND b.ai NOT IN (SELECT ai FROM conflicts)
  ),
  inserted AS (
    INSERT INTO events (stream_id, stream_version, type, data, metadata)
    SELECT ac.stream_id, ac.current + e.ord::integer, e.value->>'type', e.value->'data', ap.metadata
    FROM accepted ac JOIN appends ap USING (ai), jsonb_array_elements(ac.events) WITH ORDINALITY AS e(value, ord)
    ORDER BY ac.ai, ac.bi, e.ord
    RETURNING position, stream_id, stream_version
  ),
  results AS (
    SELECT ac.ai, jsonb_build_object('transactionId', pg_current_xact_id()::text, 'streams',
             jsonb_agg(jsonb_build_object('streamId', ac.stream_id, 'fromVersion', ac.current + 1,
               'toVersion', ac.current + jsonb_array_length(ac.events),
               'firstPosition', w.first::text, 'lastPosition', w.last::text) ORDER BY ac.bi)) AS result
    FROM accepted ac
    JOIN (SELECT stream_id, min(position) AS first, max(position) AS last FROM inserted GROUP BY stream_id) w
      USING (stream_id)
    GROUP BY ac.ai
  ),
  recorded AS (
    INSERT INTO commands (command_id, result)
    SELECT ap.command_id, r.result FROM results r JOIN appends ap USING (ai) WHERE ap.command_id IS NOT NULL
  )
  SELECT jsonb_agg(CASE WHEN d.ai IS NOT NULL THEN jsonb_build_object('duplicate', d.result)
                        WHEN c.ai IS NOT NULL THEN jsonb_build_object('conflict', c.conflict)
                        ELSE jsonb_build_object('ok', r.result) END ORDER BY ap.ai)
  INTO v_outcomes
  FROM appends ap LEFT JOIN duplicates d USING (ai) LEFT JOIN conflicts c USING (ai) LEFT JOIN results r USING (ai);
  RETURN v_outcomes;
END $$;

-- One append on a connection the caller holds (inside a transaction it controls): the same path as a
-- group of one, with a conflict raised as TQ001 so that transaction cannot go on as if it had written.
DROP FUNCTION tianqi_append(jsonb, text);
CREATE FUNCTION tianqi_append(p_append jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_outcome jsonb := tianqi_append_group(jsonb_build_array(p_append)) -> 0;
BEGIN
  IF v_outcome ? 'conflict' THEN
    RAISE EXCEPTION 'stream % is at version %, not at the expected %', v_outcome->'conflict'->>'streamId',
      v_outcome->'conflict'->>'actual', v_outcome->'conflict'->>'expected'
      USING ERRCODE = 'TQ001', DETAIL = (v_outcome->'conflict')::text;
  END IF;
  RETURN coalesce(v_outcome->'ok' || '{"duplicate": false}'::jsonb,
                  v_outcome->'duplicate' || '{"duplicate": true}'::jsonb);
END $$;
