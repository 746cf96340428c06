-- Issue #3 and #4: security labels in the disclosure log, the ingest error queue, partner agreements,
-- the admin trail, accounting suspensions and the record of accountings provided.

ALTER TABLE disclosure_log ADD COLUMN labels JSONB;

-- A partner's agreement (policy/agreements.ts shape) travels with its registration row, so the
-- per-request partner read brings it along.
ALTER TABLE partners ADD COLUMN agreement JSONB;

CREATE TABLE ingest_errors (
  id          TEXT    PRIMARY KEY,
  received    TEXT    NOT NULL COLLATE "C",
  channel     TEXT    NOT NULL,
  format      TEXT    NOT NULL,
  source      TEXT    NOT NULL,
  input       TEXT    NOT NULL,
  outcome     JSONB   NOT NULL,
  status      TEXT    NOT NULL,
  attempts    INTEGER NOT NULL,
  updated_at  TEXT    NOT NULL
);
CREATE INDEX ingest_errors_status ON ingest_errors (status, received);

CREATE TABLE admin_trail (
  seq      BIGSERIAL PRIMARY KEY,
  at       TEXT NOT NULL COLLATE "C",
  actor    TEXT NOT NULL,
  action   TEXT NOT NULL,
  target   TEXT NOT NULL,
  before   JSONB,
  after    JSONB
);
CREATE FUNCTION admin_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'admin trail is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER admin_trail_no_update_delete BEFORE UPDATE OR DELETE ON admin_trail
  FOR EACH ROW EXECUTE FUNCTION admin_trail_append_only();

CREATE TABLE accounting_suspensions (
  id          TEXT PRIMARY KEY,
  patient     TEXT,
  body        JSONB NOT NULL,
  recorded_at TEXT NOT NULL
);

CREATE TABLE accountings_provided (
  id       TEXT PRIMARY KEY,
  patient  TEXT NOT NULL COLLATE "C",
  at       TEXT NOT NULL COLLATE "C",
  body     JSONB NOT NULL
);
CREATE INDEX accountings_provided_patient ON accountings_provided (patient, at);
