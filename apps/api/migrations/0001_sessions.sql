-- Sign-in sessions of the web app and the CLI. Only a SHA-256 digest of each token is kept, so a copy
-- of the database does not let anyone in. Sessions are not events: they are many, short-lived and
-- carry no decision; sign-ins themselves are recorded as events on the user's stream.
CREATE TABLE auth_sessions (
  token_digest text PRIMARY KEY,
  session_id text NOT NULL UNIQUE,
  user_id text NOT NULL,
  via text NOT NULL,
  ip text,
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expiry ON auth_sessions (expires_at);
