-- The disclosure log's hash column loses its UNIQUE index. Nothing looks an entry up by its hash, and
-- the chain needs no index: seq is the primary key and every hash covers its predecessor's, which
-- `fxg audit verify` recomputes. The index cost a random-order B-tree insert per disclosure: about 40%
-- of a group commit's time (docs/benchmarks.md, 7 December).
-- SQLite cannot drop a column constraint, so the table is rebuilt and every row copied as it is; the
-- append-only triggers and the patient index are re-created as migrations 001 and 002 made them. The
-- implicit DELETE of DROP TABLE fires no triggers (https://www.sqlite.org/lang_droptable.html).
CREATE TABLE disclosure_log_rebuilt (
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
  hash           TEXT NOT NULL,
  labels         TEXT CHECK (labels IS NULL OR json_valid(labels))
);
INSERT INTO disclosure_log_rebuilt (
  seq, recorded, patient, recipient, user_id, client_id, token_id, purpose_of_use, legal_basis, channel,
  resources, description, request_id, prev_hash, hash, labels
)
SELECT
  seq, recorded, patient, recipient, user_id, client_id, token_id, purpose_of_use, legal_basis, channel,
  resources, description, request_id, prev_hash, hash, labels
FROM disclosure_log ORDER BY seq;
DROP TABLE disclosure_log;
ALTER TABLE disclosure_log_rebuilt RENAME TO disclosure_log;
CREATE INDEX disclosure_log_patient ON disclosure_log (patient, seq);
CREATE TRIGGER disclosure_log_no_update BEFORE UPDATE ON disclosure_log
BEGIN SELECT RAISE(ABORT, 'disclosure log is append-only'); END;
CREATE TRIGGER disclosure_log_no_delete BEFORE DELETE ON disclosure_log
BEGIN SELECT RAISE(ABORT, 'disclosure log is append-only'); END;
