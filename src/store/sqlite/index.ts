/**
 * The embedded store: one SQLite file (or ':memory:') through better-sqlite3.
 * WAL lets readers run during a write; synchronous=FULL makes every acknowledged commit durable.
 */
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { isoNow, type Clock } from '../../core/clock.js';
import type { FhirDefinitions } from '../../core/fhir-definitions.js';
import { loadMigrations, migrate } from '../sql/migrate.js';
import { buildStores } from '../sql/stores.js';
import type { SearchIndexSelection, Stores } from '../types.js';
import { SqliteExecutor } from './executor.js';

export interface SqliteStoreOptions {
  /** Database file path, or ':memory:' (tests). */
  filename: string;
  clock: Clock;
  defs: FhirDefinitions;
  /** How long a writer waits for another process's lock before failing (ms). Default 5000. */
  busyTimeoutMs?: number;
  /** The search parameters to index (absent: all); see SearchIndexSelection. */
  searchIndex?: SearchIndexSelection;
  onReindexing?: () => void;
  onReindexed?: (resources: number) => void;
}

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/sqlite/', import.meta.url));

/** Opens (creating and migrating as needed) the SQLite stores. */
export async function openSqliteStores(opts: SqliteStoreOptions): Promise<Stores> {
  const busyTimeoutMs = Math.trunc(opts.busyTimeoutMs ?? 5000);
  const db = new Database(opts.filename);
  let reader: Database.Database | undefined;
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma('foreign_keys = ON');
    // 32 MiB of page cache (SQLite's default is 2 MiB): index-row inserts and searches touch many b-tree pages.
    db.pragma('cache_size = -32768');
    // Checkpoint the WAL every 10,000 pages (~40 MiB) instead of 1,000: a bulk import rewrote the same index
    // pages into the database file at nearly every commit. The WAL file is cut back to 64 MiB after a checkpoint.
    db.pragma('wal_autocheckpoint = 10000');
    db.pragma('journal_size_limit = 67108864');
    await migrate(new SqliteExecutor(db, busyTimeoutMs), loadMigrations(MIGRATIONS_DIR), isoNow(opts.clock));
    // Refresh planner statistics when they are missing or stale (cheap when nothing changed).
    db.pragma('optimize = 0x10002');
    if (!db.memory) {
      reader = new Database(opts.filename, { readonly: true });
      reader.pragma(`busy_timeout = ${busyTimeoutMs}`);
      reader.pragma('cache_size = -32768');
    }
    const exec = new SqliteExecutor(db, busyTimeoutMs, reader);
    return await buildStores('sqlite', exec, opts, {
      ping: async () => {
        await exec.all('SELECT 1');
      },
      close: async () => {
        if (!db.open) return;
        reader?.close();
        db.pragma('optimize');
        db.close();
      },
    });
  } catch (err) {
    reader?.close();
    db.close();
    throw err;
  }
}
