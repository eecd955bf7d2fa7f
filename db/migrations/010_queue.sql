-- The waiting room (API.md "Waiting room"), projected by the writer from the engine's QUEUE_*
-- events: one row per province's room and one per ticket. Redis decides (engine/lua/*Queue*.lua);
-- these tables are the record an operator or an auditor reads after the opening: who joined when,
-- the drawn places, who was admitted when, and the revealed seed that lets anyone check the draw.

CREATE TABLE queue_rooms (
  province_code         text PRIMARY KEY CHECK (province_code ~ '^[0-9]{2}$'),
  mode                  text NOT NULL CHECK (mode IN ('off', 'auto', 'opening')),
  pre_queue_ms          bigint NOT NULL CHECK (pre_queue_ms >= 0),
  pass_ms               bigint NOT NULL CHECK (pass_ms > 0),
  max_admit_per_minute  integer CHECK (max_admit_per_minute > 0),
  -- hex SHA-256 of the draw's seed, published before the opening; the seed once revealed
  lottery_commitment    text NOT NULL CHECK (lottery_commitment ~ '^[0-9a-f]{64}$'),
  lottery_seed          text CHECK (lottery_seed ~ '^[0-9a-f]{64}$'),
  prequeued             integer CHECK (prequeued >= 0),
  drawn_at              timestamptz,
  drained_at            timestamptz,
  updated_at            timestamptz NOT NULL,
  CONSTRAINT queue_rooms_seed_after_draw CHECK ((lottery_seed IS NULL) = (drawn_at IS NULL))
);
COMMENT ON TABLE queue_rooms IS
  'Waiting rooms per province: settings, the draw''s commitment and (after the opening) its seed.';

CREATE TABLE queue_tickets (
  ticket_id        text PRIMARY KEY CHECK (ticket_id ~ '^[0-9]{2}-[0-9a-f]{16}$'),
  province_code    text NOT NULL CHECK (province_code ~ '^[0-9]{2}$'),
  -- the engine's account id (no reference: a ticket may be taken before PostgreSQL has the account)
  account_id       text NOT NULL CHECK (account_id <> ''),
  -- PREQUEUE until the draw, WAITING with a place in line, ADMITTED with a pass, LAPSED after it
  state            text NOT NULL CHECK (state IN ('PREQUEUE', 'WAITING', 'ADMITTED', 'LAPSED')),
  -- the place in line (1 = first); null while PREQUEUE
  seq              integer CHECK (seq > 0),
  joined_at        timestamptz NOT NULL,
  admitted_at      timestamptz,
  pass_expires_at  timestamptz,
  released_at      timestamptz,
  lapsed_at        timestamptz,
  replaces         text,
  CONSTRAINT queue_tickets_place_check CHECK ((state = 'PREQUEUE') = (seq IS NULL)),
  CONSTRAINT queue_tickets_admission_check CHECK (
    (state IN ('ADMITTED', 'LAPSED')) = (admitted_at IS NOT NULL) AND (admitted_at IS NULL) = (pass_expires_at IS NULL)
  )
);
COMMENT ON TABLE queue_tickets IS
  'Waiting-room tickets: one place per account and province at a time (a lapsed pass leaves its ticket as history; a new one replaces it).';
-- P8: no place in line shared by two tickets of one province
CREATE UNIQUE INDEX queue_tickets_place_key ON queue_tickets (province_code, seq) WHERE seq IS NOT NULL;
CREATE INDEX queue_tickets_account_idx ON queue_tickets (account_id, province_code);
