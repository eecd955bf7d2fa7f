-- The conventional baseline's own tables (loadtest/baseline/): the same reservation rules as the
-- engine, kept the textbook way, entirely in PostgreSQL. Idempotent (IF NOT EXISTS everywhere), so
-- it can be applied on every start; it lives in schema `baseline` and never touches the engine's
-- tables in `public`. Rules R* and invariants I* are DOMAIN.md's.

CREATE SCHEMA IF NOT EXISTS baseline;

CREATE TABLE IF NOT EXISTS baseline.campuses (
  campus_id                         text PRIMARY KEY,
  province_code                     text NOT NULL,
  school_id                         text NOT NULL,
  -- R19: false fixes this campus's own written candidates to its oral seats.
  students_may_take_oral_elsewhere  boolean NOT NULL DEFAULT true,
  -- R20: oral seats open to candidates whose written campus this is, then (or never: NULL) to the
  -- other candidates of the province.
  oral_own_school_at                timestamptz NOT NULL,
  oral_province_wide_at             timestamptz
);
CREATE INDEX IF NOT EXISTS campuses_province_idx ON baseline.campuses (province_code);

-- R17, I1: the row every reservation locks (SELECT … FOR UPDATE). No CHECK (taken <= capacity):
-- the application enforces it, and invariants.ts verifies it.
CREATE TABLE IF NOT EXISTS baseline.capacity (
  campus_id  text NOT NULL REFERENCES baseline.campuses,
  subject    text NOT NULL,
  capacity   integer NOT NULL CHECK (capacity >= 0),
  taken      integer NOT NULL DEFAULT 0,
  PRIMARY KEY (campus_id, subject)
);

-- R5: the province's online registration window.
CREATE TABLE IF NOT EXISTS baseline.calendar (
  province_code  text PRIMARY KEY,
  opens_at       timestamptz NOT NULL,
  closes_at      timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS baseline.fees (
  subject  text PRIMARY KEY,
  fee      numeric(8, 2) NOT NULL CHECK (fee >= 0)
);

CREATE TABLE IF NOT EXISTS baseline.candidates (
  candidate_id       text PRIMARY KEY,
  province_code      text NOT NULL,
  school_id          text NOT NULL,
  campus_id          text NOT NULL REFERENCES baseline.campuses,  -- R15: the written campus
  eligible_subjects  text[] NOT NULL                              -- R4: written subjects only
);

CREATE TABLE IF NOT EXISTS baseline.accounts (
  account_id  text PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS baseline.sessions (
  token       text PRIMARY KEY,
  account_id  text NOT NULL REFERENCES baseline.accounts,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_account_idx ON baseline.sessions (account_id);

-- R6, I2: one account <-> one candidate, both ways.
CREATE TABLE IF NOT EXISTS baseline.bindings (
  account_id    text PRIMARY KEY REFERENCES baseline.accounts,
  candidate_id  text NOT NULL UNIQUE REFERENCES baseline.candidates,
  bound_at      timestamptz NOT NULL DEFAULT now()
);

-- Registered subjects. Rows are never deleted: a cancelled or expired item stays as history.
CREATE TABLE IF NOT EXISTS baseline.items (
  item_id           bigserial PRIMARY KEY,
  candidate_id      text NOT NULL REFERENCES baseline.candidates,
  subject           text NOT NULL,
  level             smallint NOT NULL CHECK (level IN (4, 6)),
  kind              text NOT NULL CHECK (kind IN ('written', 'oral')),
  campus_id         text NOT NULL,
  -- R18: the written subject an oral item depends on (NULL for written items).
  requires_subject  text,
  status            text NOT NULL CHECK (status IN ('HELD', 'PAID', 'EXPIRED', 'CANCELLED')),
  fee               numeric(8, 2) NOT NULL DEFAULT 0,
  held_at           timestamptz NOT NULL,
  pay_by            timestamptz NOT NULL,  -- R22: held_at + 12 h
  ended_at          timestamptz,
  FOREIGN KEY (campus_id, subject) REFERENCES baseline.capacity (campus_id, subject),
  CHECK ((kind = 'oral') = (requires_subject IS NOT NULL))
);
-- One live item per subject per candidate (ALREADY_REGISTERED).
CREATE UNIQUE INDEX IF NOT EXISTS items_one_live_subject
  ON baseline.items (candidate_id, subject) WHERE status IN ('HELD', 'PAID');
-- I3, R16: one live written subject per level per candidate (SAME_LEVEL_TAKEN).
CREATE UNIQUE INDEX IF NOT EXISTS items_one_written_per_level
  ON baseline.items (candidate_id, level) WHERE kind = 'written' AND status IN ('HELD', 'PAID');
CREATE INDEX IF NOT EXISTS items_candidate_idx ON baseline.items (candidate_id);
-- What an expiry job (R22) would scan.
CREATE INDEX IF NOT EXISTS items_due_idx ON baseline.items (pay_by) WHERE status = 'HELD';
