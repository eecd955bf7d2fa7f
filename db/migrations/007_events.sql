-- The engine's outbox, copied from the Redis streams by the writer (I5).

CREATE TABLE events (
  -- "<stream>/<stream entry id>", e.g. "p11/1764388800000-0": unique for ever, so a replayed batch
  -- is dropped by INSERT ... ON CONFLICT (event_id) DO NOTHING.
  event_id    text PRIMARY KEY CHECK (event_id <> ''),
  stream      text NOT NULL CHECK (stream <> ''),
  type        text NOT NULL CHECK (type <> ''),
  at          timestamptz NOT NULL,
  data        jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
  written_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE events IS
  'Every engine event exactly once (I5): the primary key makes a redelivered event a no-op, so the writer can retry any batch.';
