-- Resources: the current version of each (content NULL once deleted) and every version in resource_versions.
-- Content is TEXT, not jsonb: it round-trips byte for byte and is never queried (search uses the idx_* tables).
-- rid is the compact key index rows point to. Text compared by range or prefix uses COLLATE "C", so
-- ordering is by code point, as in SQLite.
CREATE TABLE resources (
  rid             BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  resource_type   TEXT     NOT NULL,
  id              TEXT     NOT NULL COLLATE "C",
  version         INTEGER  NOT NULL,
  last_updated_ms BIGINT   NOT NULL,
  deleted         SMALLINT NOT NULL DEFAULT 0,
  content         TEXT,
  UNIQUE (resource_type, id)
);
CREATE INDEX resources_type_updated ON resources (resource_type, last_updated_ms, id);

CREATE TABLE resource_versions (
  resource_type   TEXT    NOT NULL,
  id              TEXT    NOT NULL COLLATE "C",
  version         INTEGER NOT NULL,
  last_updated_ms BIGINT  NOT NULL,
  method          TEXT    NOT NULL CHECK (method IN ('POST', 'PUT', 'DELETE')),
  content         TEXT,
  PRIMARY KEY (resource_type, id, version)
);

-- Search index rows, one table per search parameter type: a lookup index (resource_type, code,
-- value, rid) leads searches; an owner index (rid, code, value) serves per-resource probes, sort
-- keys and re-indexing. seq only keeps the key shape shared with SQLite.
CREATE TABLE idx_token (
  rid           BIGINT  NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  system        TEXT COLLATE "C",
  value         TEXT COLLATE "C",
  text          TEXT COLLATE "C"
);
CREATE INDEX idx_token_lookup ON idx_token (resource_type, code, value, rid, system);
CREATE INDEX idx_token_owner ON idx_token (rid, code, value, system);

CREATE TABLE idx_string (
  rid           BIGINT  NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  norm          TEXT    NOT NULL COLLATE "C",
  exact         TEXT    NOT NULL COLLATE "C"
);
CREATE INDEX idx_string_lookup ON idx_string (resource_type, code, norm, rid);
CREATE INDEX idx_string_owner ON idx_string (rid, code, norm);

CREATE TABLE idx_date (
  rid           BIGINT  NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  low           BIGINT  NOT NULL,
  high          BIGINT  NOT NULL
);
CREATE INDEX idx_date_lookup ON idx_date (resource_type, code, low, high, rid);
CREATE INDEX idx_date_owner ON idx_date (rid, code, low, high);

-- References and compartment rows also carry last_updated_ms (default-order patient searches stop after one page).
CREATE TABLE idx_reference (
  rid             BIGINT  NOT NULL,
  code            TEXT    NOT NULL,
  seq             INTEGER NOT NULL,
  resource_type   TEXT    NOT NULL,
  last_updated_ms BIGINT  NOT NULL,
  target          TEXT    NOT NULL COLLATE "C"
);
CREATE INDEX idx_reference_lookup ON idx_reference (resource_type, code, target, last_updated_ms, rid);
CREATE INDEX idx_reference_owner ON idx_reference (rid, code, target);

CREATE TABLE idx_quantity (
  rid           BIGINT           NOT NULL,
  code          TEXT             NOT NULL,
  seq           INTEGER          NOT NULL,
  resource_type TEXT             NOT NULL,
  low           DOUBLE PRECISION NOT NULL,
  high          DOUBLE PRECISION NOT NULL,
  system        TEXT COLLATE "C",
  unit          TEXT COLLATE "C"
);
CREATE INDEX idx_quantity_lookup ON idx_quantity (resource_type, code, low, high, rid);
CREATE INDEX idx_quantity_owner ON idx_quantity (rid, code, low, high);

CREATE TABLE idx_number (
  rid           BIGINT           NOT NULL,
  code          TEXT             NOT NULL,
  seq           INTEGER          NOT NULL,
  resource_type TEXT             NOT NULL,
  low           DOUBLE PRECISION NOT NULL,
  high          DOUBLE PRECISION NOT NULL
);
CREATE INDEX idx_number_lookup ON idx_number (resource_type, code, low, high, rid);
CREATE INDEX idx_number_owner ON idx_number (rid, code, low, high);

CREATE TABLE idx_uri (
  rid           BIGINT  NOT NULL,
  code          TEXT    NOT NULL,
  seq           INTEGER NOT NULL,
  resource_type TEXT    NOT NULL,
  value         TEXT    NOT NULL COLLATE "C"
);
CREATE INDEX idx_uri_lookup ON idx_uri (resource_type, code, value, rid);
CREATE INDEX idx_uri_owner ON idx_uri (rid, code, value);

CREATE TABLE compartment (
  patient_id      TEXT   NOT NULL COLLATE "C",
  resource_type   TEXT   NOT NULL,
  last_updated_ms BIGINT NOT NULL,
  rid             BIGINT NOT NULL,
  PRIMARY KEY (patient_id, resource_type, last_updated_ms, rid)
);
CREATE INDEX compartment_owner ON compartment (rid, patient_id);

-- Disclosure log: append-only, hash-chained (design.md §6).
CREATE TABLE disclosure_log (
  seq            BIGINT PRIMARY KEY,
  recorded       TEXT   NOT NULL COLLATE "C",
  patient        TEXT   NOT NULL COLLATE "C",
  recipient      JSONB  NOT NULL,
  user_id        TEXT,
  client_id      TEXT   NOT NULL,
  token_id       TEXT   NOT NULL,
  purpose_of_use TEXT   NOT NULL,
  legal_basis    TEXT   NOT NULL,
  channel        TEXT   NOT NULL,
  resources      JSONB  NOT NULL,
  description    TEXT   NOT NULL,
  request_id     TEXT   NOT NULL,
  prev_hash      TEXT   NOT NULL,
  hash           TEXT   NOT NULL UNIQUE
);
CREATE INDEX disclosure_log_patient ON disclosure_log (patient, seq);

CREATE FUNCTION disclosure_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'disclosure log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER disclosure_log_no_update_delete BEFORE UPDATE OR DELETE ON disclosure_log
  FOR EACH ROW EXECUTE FUNCTION disclosure_log_append_only();
CREATE TRIGGER disclosure_log_no_truncate BEFORE TRUNCATE ON disclosure_log
  FOR EACH STATEMENT EXECUTE FUNCTION disclosure_log_append_only();

CREATE TABLE replay_cache (
  key        TEXT   PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX replay_cache_expiry ON replay_cache (expires_at);

CREATE TABLE partners (
  id         TEXT PRIMARY KEY,
  name       TEXT  NOT NULL,
  kind       TEXT  NOT NULL,
  address    TEXT,
  status     TEXT  NOT NULL,
  jwks       JSONB,
  jwks_url   TEXT,
  scopes     JSONB NOT NULL,
  created_at TEXT  NOT NULL,
  updated_at TEXT  NOT NULL
);

CREATE TABLE signing_keys (
  kid         TEXT  PRIMARY KEY,
  alg         TEXT  NOT NULL,
  private_jwk JSONB NOT NULL,
  public_jwk  JSONB NOT NULL,
  created_at  TEXT  NOT NULL COLLATE "C",
  retired_at  TEXT  COLLATE "C"
);
