/**
 * What the shared store code needs from a database driver. better-sqlite3 and pg each implement it
 * once (sqlite/executor.ts, postgres/executor.ts); every store in sql/ is written against it, so
 * the SQL exists once for both dialects.
 */
import type { SqlValue } from './sql.js';

export type Row = Record<string, unknown>;

/** Rows for one table, inserted together (one round trip on PostgreSQL). */
export interface RowBatch {
  table: string;
  columns: readonly string[];
  rows: ReadonlyArray<readonly SqlValue[]>;
}

export interface TransactionOptions {
  /**
   * Serialize with every other transaction holding the same lock name. SQLite's BEGIN IMMEDIATE
   * already serializes writers; PostgreSQL takes pg_advisory_xact_lock on the name.
   */
  lock?: string;
}

export interface SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  /** Rows of a SELECT (or of a statement with RETURNING). `sql` uses `?` placeholders. */
  all<R extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  /** Executes a statement; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs a parameterless multi-statement script (migrations). */
  script(sql: string): Promise<void>;
  /** Inserts the batches in order, in as few round trips as the driver allows. */
  insert(batches: readonly RowBatch[]): Promise<void>;
  /**
   * Runs fn atomically. Inside fn, both `tx` and any call on this executor from fn's async
   * context join the transaction; a nested transaction() becomes a savepoint.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /** Whether a call made now (from this async context) would run inside an open transaction. */
  inTransaction(): boolean;
}

/** Whether a driver error is a unique/primary-key violation (both drivers' codes). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** JSON columns come back as text from SQLite and already parsed (jsonb) from PostgreSQL. */
export function jsonColumn<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}
