-- Appends batches of events to one or more streams in one transaction and one round trip.
--   p_batches: [{"streamId": text, "expectedVersion": "any" | "no_stream" | <int>, "events":
--               [{"type": text, "data": {...}, "metadata": {...}}]}]
--   p_command_id: when not null, a second call with the same id returns the first call's result.
-- Stream locks are advisory locks taken, in a fixed order, before the transaction writes anything and
-- so before it is given a transaction id: whoever appends to a stream after another has committed to it
-- gets a larger transaction id, which keeps the global order consistent with every stream's order.
CREATE FUNCTION tianqi_append(p_batches jsonb, p_command_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_key      bigint;
  v_batch    jsonb;
  v_stream   text;
  v_expected text;
  v_current  integer;
  v_mismatch boolean;
  v_count    integer;
  v_first    bigint;
  v_last     bigint;
  v_streams  jsonb := '[]'::jsonb;
  v_result   jsonb;
BEGIN
  IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
    RAISE EXCEPTION 'an append must be the first write of its transaction' USING ERRCODE = 'TQ002';
  END IF;

  FOR v_key IN
    SELECT DISTINCT k FROM (
      SELECT hashtextextended('stream:' || (b->>'streamId'), 0) AS k FROM jsonb_array_elements(p_batches) b
      UNION ALL
      SELECT hashtextextended('command:' || p_command_id, 0) WHERE p_command_id IS NOT NULL
    ) keys ORDER BY k
  LOOP
    PERFORM pg_advisory_xact_lock(v_key);
  END LOOP;

  IF p_command_id IS NOT NULL THEN
    SELECT c.result INTO v_result FROM commands c WHERE c.command_id = p_command_id;
    IF FOUND THEN
      RETURN v_result || '{"duplicate": true}'::jsonb;
    END IF;
  END IF;

  FOR v_batch IN SELECT value FROM jsonb_array_elements(p_batches) LOOP
    v_stream := v_batch->>'streamId';
    v_expected := v_batch->>'expectedVersion';
    SELECT coalesce(max(e.stream_version), 0) INTO v_current FROM events e WHERE e.stream_id = v_stream;
    v_mismatch := CASE v_expected
                    WHEN 'any' THEN false
                    WHEN 'no_stream' THEN v_current <> 0
                    ELSE v_expected::integer <> v_current
                  END;
    IF v_mismatch THEN
      RAISE EXCEPTION 'stream % is at version %, not at the expected %', v_stream, v_current, v_expected
        USING ERRCODE = 'TQ001',
              DETAIL = jsonb_build_object('streamId', v_stream, 'expected', v_expected, 'actual', v_current)::text;
    END IF;

    WITH inserted AS (
      INSERT INTO events (stream_id, stream_version, type, data, metadata)
      SELECT v_stream, v_current + e.ord::integer, e.value->>'type', e.value->'data', e.value->'metadata'
      FROM jsonb_array_elements(v_batch->'events') WITH ORDINALITY AS e(value, ord)
      ORDER BY e.ord
      RETURNING position
    )
    SELECT count(*), min(position), max(position) INTO v_count, v_first, v_last FROM inserted;

    v_streams := v_streams || jsonb_build_object(
      'streamId', v_stream, 'fromVersion', v_current + 1, 'toVersion', v_current + v_count,
      'firstPosition', v_first::text, 'lastPosition', v_last::text);
  END LOOP;

  v_result := jsonb_build_object('transactionId', pg_current_xact_id()::text, 'streams', v_streams);
  IF p_command_id IS NOT NULL THEN
    INSERT INTO commands (command_id, result) VALUES (p_command_id, v_result);
  END IF;
  RETURN v_result || '{"duplicate": false}'::jsonb;
END $$;
