/**
 * The production store: PostgreSQL through a pg Pool. Several gateway processes may share one
 * database; migrations and the disclosure log serialize on advisory locks.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { isoNow, type Clock } from '../../core/clock.js';
import type { FhirDefinitions } from '../../core/fhir-definitions.js';
import { loadMigrations, migrate, MIGRATIONS_LOCK } from '../sql/migrate.js';
import { buildStores } from '../sql/stores.js';
import type { SearchIndexSelection, Stores } from '../types.js';
import { PgExecutor } from './executor.js';

export interface PostgresStoreOptions {
  /** How long a request waits for a pooled connection before failing with 503 (ms). Default 2000. */
  connectTimeoutMs?: number;
  /** postgres://user@host:port/db */
  url: string;
  clock: Clock;
  defs: FhirDefinitions;
  /** Schema holding the tables (created if missing). Default 'public'; tests use one per run. */
  schema?: string;
  /** Pool size. Default 10. */
  poolMax?: number;
  /** The search parameters to index (absent: all); see SearchIndexSelection. */
  searchIndex?: SearchIndexSelection;
  onReindexing?: () => void;
  onReindexed?: (resources: number) => void;
}

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/postgres/', import.meta.url));
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

/**
 * Settings under which a committed write could be lost on a crash. The disclosure log promises
 * "durable when append resolves", so the store refuses to start on them.
 */
const DURABILITY_SETTINGS: ReadonlyArray<[setting: string, accepted: readonly string[]]> = [
  ['fsync', ['on']],
  ['synchronous_commit', ['on', 'remote_write', 'remote_apply']],
];

/** Opens the PostgreSQL stores: checks durability settings, creates the schema, applies migrations. */
export async function openPostgresStores(opts: PostgresStoreOptions): Promise<Stores> {
  const schema = opts.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax ?? 10,
    // Fail fast (503 transient) rather than queue without bound when the database is down or saturated.
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 2000,
    options: `-c search_path=${schema}`,
    // BIGINT columns hold epoch ms and sequence numbers, well inside Number's exact range.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  try {
    await assertDurable(pool);
    const exec = new PgExecutor(pool, schema);
    // Under the migrations lock: concurrent CREATE SCHEMA IF NOT EXISTS can still collide.
    await exec.transaction((tx) => tx.script(`CREATE SCHEMA IF NOT EXISTS "${schema}"`), { lock: MIGRATIONS_LOCK });
    await migrate(exec, loadMigrations(MIGRATIONS_DIR), isoNow(opts.clock));
    return await buildStores('postgres', exec, opts, {
      ping: async () => {
        await pool.query('SELECT 1');
      },
      close: () => pool.end(),
    });
  } catch (err) {
    await pool.end();
    throw err;
  }
}

/** Refuses to run on settings that could lose acknowledged commits (see DURABILITY_SETTINGS). */
export async function assertDurable(db: Pick<pg.Pool, 'query'>): Promise<void> {
  for (const [setting, accepted] of DURABILITY_SETTINGS) {
    const res = await db.query<Record<string, string>>(`SHOW ${setting}`);
    const value = res.rows[0]?.[setting];
    if (!value || !accepted.includes(value)) {
      throw new Error(`PostgreSQL ${setting} is '${value}': the gateway needs ${accepted.join(' or ')} so that acknowledged writes survive a crash`);
    }
  }
}
