-- The disclosure log's hash column loses its UNIQUE index. Nothing looks an entry up by its hash, and
-- the chain needs no index: seq is the primary key and every hash covers its predecessor's, which
-- `fxg audit verify` recomputes. The index cost a random-order B-tree insert per disclosure.
ALTER TABLE disclosure_log DROP CONSTRAINT disclosure_log_hash_key;
