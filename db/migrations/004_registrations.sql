-- Bindings and registered subjects, written by the writer from the engine's events (I5).
-- Rows are never deleted: an ended binding or item stays as history, and the invariants are
-- partial UNIQUE indexes over the live rows only, so history never blocks a new live row while two
-- live rows that break I2 or I3 cannot both exist. The gateway maps the index names below to
-- error codes, so they are part of the contract.

CREATE TABLE registrations (
  -- The engine's id for this binding; a candidate re-registering after R8 gets a new one.
  registration_id  text PRIMARY KEY CHECK (registration_id <> ''),
  candidate_id     text NOT NULL REFERENCES roster,
  account_id       bigint NOT NULL REFERENCES accounts,
  province_code    text NOT NULL REFERENCES provinces,
  campus_id        text NOT NULL REFERENCES campuses,
  snapshot         jsonb NOT NULL CHECK (jsonb_typeof(snapshot) = 'object'),
  saved_at         timestamptz NOT NULL,
  deleted_at       timestamptz,
  delete_reason    text CHECK (delete_reason <> ''),
  CONSTRAINT registrations_deletion_check CHECK ((deleted_at IS NULL) = (delete_reason IS NULL)),
  CONSTRAINT registrations_deleted_after_saved CHECK (deleted_at >= saved_at)
);
COMMENT ON TABLE registrations IS
  'Account-candidate bindings (R6) with the candidate record as saved (R7); deleted_at/delete_reason end one (R8: no subject 12 hours after saving). I2: at most one live row per candidate and one per account (registrations_live_candidate_key, registrations_live_account_key).';
-- I2, both ways. 409 CANDIDATE_ALREADY_BOUND / 409 ACCOUNT_ALREADY_BOUND.
CREATE UNIQUE INDEX registrations_live_candidate_key ON registrations (candidate_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX registrations_live_account_key ON registrations (account_id) WHERE deleted_at IS NULL;
CREATE INDEX registrations_candidate_idx ON registrations (candidate_id);
CREATE INDEX registrations_account_idx ON registrations (account_id);

CREATE TABLE registration_items (
  -- The engine's hold id.
  item_id       text PRIMARY KEY CHECK (item_id <> ''),
  candidate_id  text NOT NULL REFERENCES roster,
  subject       text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('WRITTEN', 'ORAL')),
  level         smallint NOT NULL,
  campus_id     text NOT NULL,
  status        text NOT NULL CHECK (status IN ('HELD', 'PAID', 'EXPIRED', 'CANCELLED')),
  fee           numeric(8, 2) NOT NULL CHECK (fee >= 0),
  held_at       timestamptz NOT NULL,
  pay_by        timestamptz NOT NULL,
  paid_at       timestamptz,
  ended_at      timestamptz,
  -- kind and level are copies of the subject's, kept so the I3 index can be partial on them; the
  -- composite key makes a copy that disagrees with the subject table impossible.
  CONSTRAINT registration_items_subject_fkey FOREIGN KEY (subject, kind, level)
    REFERENCES subjects (subject, kind, level),
  -- An item exists only where its campus offers the subject (R17).
  CONSTRAINT registration_items_campus_subject_fkey FOREIGN KEY (campus_id, subject)
    REFERENCES campus_capacity (campus_id, subject),
  CONSTRAINT registration_items_deadline_check CHECK (pay_by > held_at),
  CONSTRAINT registration_items_state_check CHECK (
    CASE status
      WHEN 'HELD' THEN paid_at IS NULL AND ended_at IS NULL
      WHEN 'PAID' THEN paid_at IS NOT NULL AND ended_at IS NULL
      ELSE ended_at IS NOT NULL
    END),
  -- R23: a confirmation is applied only to an unexpired item.
  CONSTRAINT registration_items_paid_in_time CHECK (paid_at BETWEEN held_at AND pay_by),
  CONSTRAINT registration_items_ended_after_held CHECK (ended_at >= held_at)
);
COMMENT ON TABLE registration_items IS
  'Registered subjects, one row per hold (R15-R23): HELD until paid by pay_by (R22), then PAID, or EXPIRED (released, I4) or CANCELLED. A candidate has at most one live (HELD or PAID) item per subject (registration_items_live_subject_key) and one live written item per level (I3, R16: registration_items_live_level_key). I1 (live items per campus and subject <= capacity) is kept by the engine and checked by reconcile.';
CREATE UNIQUE INDEX registration_items_live_subject_key ON registration_items (candidate_id, subject)
  WHERE status IN ('HELD', 'PAID');
CREATE UNIQUE INDEX registration_items_live_level_key ON registration_items (candidate_id, level)
  WHERE kind = 'WRITTEN' AND status IN ('HELD', 'PAID');
CREATE INDEX registration_items_campus_live_idx ON registration_items (campus_id, subject)
  WHERE status IN ('HELD', 'PAID');
