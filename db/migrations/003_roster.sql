-- School records (学籍库) and the CET4 score history that eligibility reads (R3, R4, R9, R10).
-- Identity numbers are never stored in clear: id_hmac = HMAC-SHA-256(server key, normalised ID
-- number) finds a person, id_masked is what may be shown, id_cipher (optional) is the encrypted
-- number for the rare case it must be recovered. The HMAC input is the number alone, not its type,
-- so that a CET4 score (which has no ID type) can be matched against a candidate (R10).

CREATE TABLE roster (
  candidate_id       text PRIMARY KEY CHECK (candidate_id <> ''),
  id_type            text NOT NULL CHECK (id_type IN ('RESIDENT_ID', 'PASSPORT', 'HK_MACAO_PERMIT', 'TAIWAN_PERMIT', 'MILITARY_OFFICER')),
  id_hmac            bytea NOT NULL CHECK (octet_length(id_hmac) = 32),
  id_masked          text NOT NULL CHECK (id_masked <> ''),
  id_cipher          bytea,
  name               text NOT NULL CHECK (name <> ''),
  name_normalised    text NOT NULL CHECK (name_normalised <> ''),
  province_code      text NOT NULL REFERENCES provinces,
  school_id          text NOT NULL REFERENCES schools,
  campus_id          text NOT NULL REFERENCES campuses,
  grade              text NOT NULL,
  eligible_subjects  text[] NOT NULL DEFAULT '{}'
    CHECK (eligible_subjects <@ ARRAY['CET4', 'CET6', 'CJT4', 'CJT6', 'CGT4', 'CGT6', 'CRT4', 'CRT6', 'TFU4']::text[]),
  cet6_barred        boolean NOT NULL DEFAULT false,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT roster_id_key UNIQUE (id_type, id_hmac)
);
COMMENT ON TABLE roster IS
  'School records (R3, R4): one row per candidate, found by (id_type, id_hmac) after the ID number is validated; campus_id is the written campus (R15); eligible_subjects are written subjects only; cet6_barred stops the CET6 review offer (R9). A saved registration keeps its own snapshot (R7).';
CREATE INDEX roster_school_idx ON roster (school_id);
CREATE INDEX roster_campus_idx ON roster (campus_id);

CREATE TABLE cet4_scores (
  ticket_number    text PRIMARY KEY CHECK (ticket_number ~ '^[0-9]{15}$'),
  id_hmac          bytea NOT NULL CHECK (octet_length(id_hmac) = 32),
  name             text NOT NULL CHECK (name <> ''),
  name_normalised  text NOT NULL CHECK (name_normalised <> ''),
  score            smallint NOT NULL CHECK (score BETWEEN 0 AND 710),
  year             smallint NOT NULL CHECK (year BETWEEN 1987 AND 2100)
);
COMMENT ON TABLE cet4_scores IS
  'CET4 written results by admission ticket: a CET6 review matches ticket + ID number (approved at once) or ticket + name (pending) against a score of 425 or more (R4, R10); tickets before 2005 are handled offline (R14).';
