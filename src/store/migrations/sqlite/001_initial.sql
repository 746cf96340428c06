-- Resources: the current version of each (content NULL once deleted) and every version in resource_versions.
-- rid is the compact key index rows point to (integer compares, small indexes).
CREATE TABLE resources (
  rid             INTEGER PRIMARY KEY,
  resource_type   TEXT    NOT NULL,
  id              TEXT    NOT NULL,
  version         INTEGER NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  deleted         INTEGER NOT NULL DEFAULT 0,
  content         TEXT,
  UNIQUE (resource_type, id)
);
CREATE INDEX resources_type_updated ON resources (resource_type, last_updated_ms, id);

CREATE TABLE resource_versions (
  resource_type   TEXT    NOT NULL,
  id              TEXT    NOT NULL,
  version         INTEGER NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  method          TEXT    NOT NULL CHECK (method IN ('POST', 'PUT', 'DELETE')),
  content         TEXT,
  PRIMARY KEY (resource_type, id, version)
);

-- Search index rows, one table per search parameter type. Each table is clustered by resource
-- (WITHOUT ROWID, key (rid, code, seq)): a search's per-resource EXISTS probe, its sort keys and
-- re-indexing read one resource's rows together. One lookup index (resource_type, code, value, rid)
-- leads searches: `r.rid IN (SELECT rid ... WHERE resource_type = ? AND code = ? AND value = ?)`.
CREATE TABLE idx_token (
  rid           INTEGER NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  system        TEXT,
  value         TEXT,
  text          TEXT,
  PRIMARY KEY (rid, code, seq)
) WITHOUT ROWID;
CREATE INDEX idx_token_lookup ON idx_token (resource_type, code, value, rid, system);

CREATE TABLE idx_string (
  rid           INTEGER NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  norm          TEXT    NOT NULL,
  exact         TEXT    NOT NULL,
  PRIMARY KEY (rid, code, seq)
) WITHOUT ROWID;
CREATE INDEX idx_string_lookup ON idx_string (resource_type, code, norm, rid);

CREATE TABLE idx_date (
  rid           INTEGER NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  low           INTEGER NOT NULL,
  high          INTEGER NOT NULL,
  PRIMARY KEY (rid, code, seq)
) WITHOUT ROWID;
CREATE INDEX idx_date_lookup ON idx_date (resource_type, code, low, high, rid);

-- References and compartment rows also carry the resource's last_updated_ms: a patient-scoped
-- search in the default order reads the lookup index in that order and stops after one page.
CREATE TABLE idx_reference (
  rid             INTEGER NOT NULL,
  code            TEXT    NOT NULL,
  seq             INTEGER NOT NULL,
  resource_type   TEXT    NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  target          TEXT    NOT NULL,
  PRIMARY KEY (rid, code, seq)
) WITHOUT ROWID;
CREATE INDEX idx_reference_lookup ON idx_reference (resource_type, code, target, last_updated_ms, rid);

CREATE TABLE idx_quantity (
  rid           INTEGER NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  low           REAL    NOT NULL,
  high          REAL    NOT NULL,
  system        TEXT,
  unit          TEXT,
  PRIMARY KEY (rid, code, seq)
) WITHOUT ROWID;
CREATE INDEX idx_quantity_lookup ON idx_quantity (resource_type, code, low, high, rid);

CREATE TABLE idx_number (
  rid           INTEGER NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  low           REAL    NOT NULL,
  high          REAL    NOT NULL,
  PRIMARY KEY (rid, code, seq)
) WITHOUT ROWID;
CREATE INDEX idx_number_lookup ON idx_number (resource_type, code, low, high, rid);

CREATE TABLE idx_uri (
  rid           INTEGER NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  value         TEXT    NOT NULL,
  PRIMARY KEY (rid, code, seq)
) WITHOUT ROWID;
CREATE INDEX idx_uri_lookup ON idx_uri (resource_type, code, value, rid);

-- Patient compartment membership (policy narrowing and $everything are joins on it).
CREATE TABLE compartment (
  patient_id      TEXT    NOT NULL,
  resource_type   TEXT    NOT NULL,
  last_updated_ms INTEGER NOT NULL,
  rid             INTEGER NOT NULL,
  PRIMARY KEY (patient_id, resource_type, last_updated_ms, rid)
) WITHOUT ROWID;
CREATE INDEX compartment_owner ON compartment (rid, patient_id);

-- Disclosure log: append-only, hash-chained (design.md §6).
CREATE TABLE disclosure_log (
  seq            INTEGER PRIMARY KEY,
  recorded       TEXT NOT NULL,
  patient        TEXT NOT NULL,
  recipient      TEXT NOT NULL CHECK (json_valid(recipient)),
  user_id        TEXT,
  client_id      TEXT NOT NULL,
  token_id       TEXT NOT NULL,
  purpose_of_use TEXT NOT NULL,
  legal_basis    TEXT NOT NULL,
  channel        TEXT NOT NULL,
  resources      TEXT NOT NULL CHECK (json_valid(resources)),
  description    TEXT NOT NULL,
  request_id     TEXT NOT NULL,
  prev_hash      TEXT NOT NULL,
  hash           TEXT NOT NULL UNIQUE
);
CREATE INDEX disclosure_log_patient ON disclosure_log (patient, seq);
CREATE TRIGGER disclosure_log_no_update BEFORE UPDATE ON disclosure_log
BEGIN SELECT RAISE(ABORT, 'disclosure log is append-only'); END;
CREATE TRIGGER disclosure_log_no_delete BEFORE DELETE ON disclosure_log
BEGIN SELECT RAISE(ABORT, 'disclosure log is append-only'); END;

CREATE TABLE replay_cache (
  key        TEXT    PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX replay_cache_expiry ON replay_cache (expires_at);

CREATE TABLE partners (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  address    TEXT,
  status     TEXT NOT NULL,
  jwks       TEXT CHECK (jwks IS NULL OR json_valid(jwks)),
  jwks_url   TEXT,
  scopes     TEXT NOT NULL CHECK (json_valid(scopes)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE signing_keys (
  kid         TEXT PRIMARY KEY,
  alg         TEXT NOT NULL,
  private_jwk TEXT NOT NULL CHECK (json_valid(private_jwk)),
  public_jwk  TEXT NOT NULL CHECK (json_valid(public_jwk)),
  created_at  TEXT NOT NULL,
  retired_at  TEXT
);
