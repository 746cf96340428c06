-- Store-wide settings the store itself keeps. 'search_index': the fingerprint of the search parameter
-- selection the index rows were written under (store/sql/resource-store.ts syncSearchIndex).
CREATE TABLE store_settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
