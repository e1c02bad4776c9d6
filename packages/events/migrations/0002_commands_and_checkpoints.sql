-- A command id seen once: a retry with the same id returns this result and appends nothing.
CREATE TABLE commands (
  command_id  text PRIMARY KEY,
  result      jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Where each named subscription has got to in the global order.
CREATE TABLE subscription_checkpoints (
  name           text PRIMARY KEY,
  transaction_id xid8 NOT NULL,
  position       bigint NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
