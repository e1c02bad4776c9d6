-- One-time codes that let the first admin be made from the web app (auth.setup). Each API server that
-- starts while there is no admin makes one, prints it and writes it into its data-dir; any of them
-- works on every server. Only a SHA-256 digest is kept, so a copy of the database sets nobody up.
-- Every row is deleted once an admin exists.
CREATE TABLE setup_codes (
  code_digest text PRIMARY KEY,
  made_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
