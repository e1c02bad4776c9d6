-- The reconciler's retries of the instances it keeps failing on: how many attempts so far and when
-- the next one is due, shown beside the error on the instance's page. Not history: the instance's
-- events record the first failure and each new error, not every retry. Written by the server that
-- reconciles; a row is deleted once a pass gets through.
CREATE TABLE reconcile_retries (
  instance_id text PRIMARY KEY,
  attempts integer NOT NULL,
  retry_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
