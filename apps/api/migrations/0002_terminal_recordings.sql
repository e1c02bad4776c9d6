-- Recordings of interactive terminal sessions (SSH jumpbox and web terminal), asciicast v2. Kept apart
-- from the event log: the session's TerminalSessionEnded event carries the recording's id.
CREATE TABLE terminal_recordings (
  recording_id text PRIMARY KEY,
  instance_id text NOT NULL,
  user_id text NOT NULL,
  via text NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at timestamptz NOT NULL,
  bytes integer NOT NULL,
  truncated boolean NOT NULL,
  cast_text text NOT NULL
);
CREATE INDEX terminal_recordings_instance ON terminal_recordings (instance_id, started_at);
