-- Issue #3 and #4: security labels in the disclosure log, the ingest error queue, partner agreements,
-- the admin trail, accounting suspensions and the record of accountings provided.

ALTER TABLE disclosure_log ADD COLUMN labels TEXT CHECK (labels IS NULL OR json_valid(labels));

-- A partner's agreement (policy/agreements.ts shape) travels with its registration row, so the
-- per-request partner read brings it along.
ALTER TABLE partners ADD COLUMN agreement TEXT CHECK (agreement IS NULL OR json_valid(agreement));

-- Inputs that could not be stored (bad message, unmappable record, invalid result), kept whole for replay.
CREATE TABLE ingest_errors (
  id          TEXT    PRIMARY KEY,
  received    TEXT    NOT NULL,
  channel     TEXT    NOT NULL,
  format      TEXT    NOT NULL,
  source      TEXT    NOT NULL,
  input       TEXT    NOT NULL,
  outcome     TEXT    NOT NULL CHECK (json_valid(outcome)),
  status      TEXT    NOT NULL,
  attempts    INTEGER NOT NULL,
  updated_at  TEXT    NOT NULL
);
CREATE INDEX ingest_errors_status ON ingest_errors (status, received);

-- Who changed what in the administration of the gateway (append-only, like the disclosure log).
CREATE TABLE admin_trail (
  seq      INTEGER PRIMARY KEY,
  at       TEXT NOT NULL,
  actor    TEXT NOT NULL,
  action   TEXT NOT NULL,
  target   TEXT NOT NULL,
  before   TEXT CHECK (before IS NULL OR json_valid(before)),
  after    TEXT CHECK (after IS NULL OR json_valid(after))
);
CREATE TRIGGER admin_trail_no_update BEFORE UPDATE ON admin_trail
BEGIN SELECT RAISE(ABORT, 'admin trail is append-only'); END;
CREATE TRIGGER admin_trail_no_delete BEFORE DELETE ON admin_trail
BEGIN SELECT RAISE(ABORT, 'admin trail is append-only'); END;

-- 45 CFR 164.528(a)(2) suspensions of the right to an accounting.
CREATE TABLE accounting_suspensions (
  id          TEXT PRIMARY KEY,
  patient     TEXT,
  body        TEXT NOT NULL CHECK (json_valid(body)),
  recorded_at TEXT NOT NULL
);

-- 45 CFR 164.530(j): each accounting provided is documented and retained.
CREATE TABLE accountings_provided (
  id       TEXT PRIMARY KEY,
  patient  TEXT NOT NULL,
  at       TEXT NOT NULL,
  body     TEXT NOT NULL CHECK (json_valid(body))
);
CREATE INDEX accountings_provided_patient ON accountings_provided (patient, at);
