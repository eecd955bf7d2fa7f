-- CET6 eligibility review applications (R9-R14).

CREATE TABLE cet6_reviews (
  -- The engine's id for the application (the admin decision endpoint names it).
  review_id      text PRIMARY KEY CHECK (review_id <> ''),
  account_id     bigint NOT NULL REFERENCES accounts,
  candidate_id   text NOT NULL REFERENCES roster,
  ticket_number  text NOT NULL CHECK (ticket_number ~ '^[0-9]{15}$'),
  status         text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
  submitted_at   timestamptz NOT NULL,
  decided_at     timestamptz,
  deleted_at     timestamptz,
  CONSTRAINT cet6_reviews_decision_check CHECK ((status = 'PENDING') = (decided_at IS NULL)),
  CONSTRAINT cet6_reviews_decided_after_submitted CHECK (decided_at >= submitted_at),
  -- R11: only a rejected application may be deleted; R12: an approved one never is.
  CONSTRAINT cet6_reviews_deletion_check CHECK (deleted_at IS NULL OR status = 'REJECTED')
);
COMMENT ON TABLE cet6_reviews IS
  'CET6 review applications (R10-R12): APPROVED at once on ticket + ID number, PENDING on ticket + name until staff decide; a rejected one may be edited (resubmitted in place) or deleted (deleted_at). R12: at most one live application per account (cet6_reviews_live_account_key); deleted ones stay as history. Refused applications are not stored (R10).';
CREATE UNIQUE INDEX cet6_reviews_live_account_key ON cet6_reviews (account_id) WHERE deleted_at IS NULL;
CREATE INDEX cet6_reviews_pending_idx ON cet6_reviews (submitted_at) WHERE status = 'PENDING' AND deleted_at IS NULL;
