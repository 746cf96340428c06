/**
 * Versioned migrations: `NNN_name.sql` files per dialect, applied in order at open, each recorded
 * in schema_migrations. All of it runs in one transaction under a lock, so two processes opening
 * the same database at once apply each migration exactly once (DDL is transactional in both).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SqlExecutor } from './executor.js';

/** Lock name held while migrating (PostgreSQL advisory lock; SQLite's write lock stands in). */
export const MIGRATIONS_LOCK = 'schema-migrations';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations in `dir`, ordered by version; refuses duplicate or malformed names. */
export function loadMigrations(dir: string): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file name must be NNN_name.sql: ${file}`);
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`duplicate migration version ${version}`);
    out.push({ version, name: m[2] as string, sql: readFileSync(join(dir, file), 'utf8') });
  }
  return out;
}

/** Applies the pending migrations; returns the versions it applied (empty when up to date). */
export async function migrate(exec: SqlExecutor, migrations: readonly Migration[], nowIso: string): Promise<number[]> {
  return exec.transaction(
    async (tx) => {
      await tx.script(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
      );
      const rows = await tx.all<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => Number(r.version)));
      const done: number[] = [];
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        await tx.script(m.sql);
        await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, nowIso]);
        done.push(m.version);
      }
      return done;
    },
    { lock: MIGRATIONS_LOCK },
  );
}
