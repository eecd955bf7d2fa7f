-- Reference data the operators set (API "Administration"): subjects, provinces, schools, campuses
-- with per-subject capacity and oral opening times, the registration calendar and fees.
-- Redis holds the live copy (engine/loader.ts); this is the record it is loaded from.

-- The subject table of engine/subjects.ts, kept here so that every subject column can be a foreign
-- key and an item's kind and level can be checked against its subject (R16, R18).
CREATE TABLE subjects (
  subject           text PRIMARY KEY,
  kind              text NOT NULL CHECK (kind IN ('WRITTEN', 'ORAL')),
  level             smallint NOT NULL CHECK (level IN (4, 6)),
  language          text NOT NULL,
  requires_written  text REFERENCES subjects (subject),
  CONSTRAINT subjects_oral_requires_written CHECK ((kind = 'ORAL') = (requires_written IS NOT NULL)),
  CONSTRAINT subjects_subject_kind_level_key UNIQUE (subject, kind, level)
);
COMMENT ON TABLE subjects IS
  'Exam subjects (DOMAIN "Subjects"): written ones have one level each (R16); an oral one needs the written subject of its language and level (R18). Mirrors engine/subjects.ts.';

INSERT INTO subjects (subject, kind, level, language, requires_written) VALUES
  ('CET4', 'WRITTEN', 4, 'en', NULL),
  ('CET6', 'WRITTEN', 6, 'en', NULL),
  ('CJT4', 'WRITTEN', 4, 'ja', NULL),
  ('CJT6', 'WRITTEN', 6, 'ja', NULL),
  ('CGT4', 'WRITTEN', 4, 'de', NULL),
  ('CGT6', 'WRITTEN', 6, 'de', NULL),
  ('CRT4', 'WRITTEN', 4, 'ru', NULL),
  ('CRT6', 'WRITTEN', 6, 'ru', NULL),
  ('TFU4', 'WRITTEN', 4, 'fr', NULL),
  ('CET-SET4', 'ORAL', 4, 'en', 'CET4'),
  ('CET-SET6', 'ORAL', 6, 'en', 'CET6');

CREATE TABLE provinces (
  province_code  text PRIMARY KEY CHECK (province_code ~ '^[0-9]{2}$'),
  name           text NOT NULL CHECK (name <> '')
);
COMMENT ON TABLE provinces IS
  'Provinces by two-digit GB/T 2260 code: registration opens per province (R5) and oral campuses are chosen within one (R20).';

CREATE TABLE schools (
  school_id      text PRIMARY KEY CHECK (school_id <> ''),
  name           text NOT NULL CHECK (name <> ''),
  province_code  text NOT NULL REFERENCES provinces
);
COMMENT ON TABLE schools IS 'Schools of the school records (R4, R15).';

CREATE TABLE campuses (
  campus_id                         text PRIMARY KEY CHECK (campus_id <> ''),
  name                              text NOT NULL CHECK (name <> ''),
  province_code                     text NOT NULL REFERENCES provinces,
  school_id                         text NOT NULL REFERENCES schools,
  students_may_take_oral_elsewhere  boolean NOT NULL,
  oral_own_school_opens_at          timestamptz NOT NULL,
  oral_province_wide_opens_at       timestamptz
);
COMMENT ON TABLE campuses IS
  'Exam campuses: the written campus of a school (R15); students_may_take_oral_elsewhere = false fixes its own students to it for oral (R19); oral seats open to its own students at oral_own_school_opens_at and to the rest of the province at oral_province_wide_opens_at, NULL meaning never (R20).';
CREATE INDEX campuses_province_idx ON campuses (province_code);
CREATE INDEX campuses_school_idx ON campuses (school_id);

CREATE TABLE campus_capacity (
  campus_id  text NOT NULL REFERENCES campuses,
  subject    text NOT NULL REFERENCES subjects,
  capacity   integer NOT NULL CHECK (capacity >= 0),
  PRIMARY KEY (campus_id, subject)
);
COMMENT ON TABLE campus_capacity IS
  'Seats per campus and subject (R17, I1: never more held-or-paid items than this); a subject without a row is not offered at the campus.';

CREATE TABLE registration_calendar (
  province_code  text PRIMARY KEY REFERENCES provinces,
  opens_at       timestamptz NOT NULL,
  closes_at      timestamptz NOT NULL,
  CONSTRAINT registration_calendar_window_check CHECK (opens_at < closes_at)
);
COMMENT ON TABLE registration_calendar IS
  'Per-province registration window: before opens_at only eligibility confirmation (R5); binding, subjects and payment inside it (R6, R15, R22).';

CREATE TABLE fees (
  subject  text PRIMARY KEY REFERENCES subjects,
  yuan     numeric(8, 2) NOT NULL CHECK (yuan >= 0)
);
COMMENT ON TABLE fees IS 'Fee per subject in yuan; the amount due is the sum over unpaid subjects (DOMAIN "Subjects", R22).';
