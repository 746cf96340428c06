/**
 * SqlExecutor over one better-sqlite3 connection. better-sqlite3 is synchronous, so a single
 * statement is atomic by construction; what needs care is a transaction whose body awaits: while
 * it is open, statements from other callers would run inside it. A mutex keeps them out until
 * COMMIT/ROLLBACK, and AsyncLocalStorage routes the transaction body's own calls (on any store
 * built on this executor) into the transaction.
 *
 * Waiting for another connection's write lock must not block the event loop (that connection may
 * be in this process, waiting on the loop to finish its transaction): BEGIN IMMEDIATE is retried
 * with timers instead of SQLite's blocking busy handler, and writes outside a transaction go
 * through one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { Row, RowBatch, SqlExecutor, TransactionOptions } from '../sql/executor.js';
import { Mutex, whenFree } from '../sql/mutex.js';
import type { SqlValue } from '../sql/sql.js';

const STATEMENT_CACHE_SIZE = 1000;
const MAX_RETRY_DELAY_MS = 50;

/** The connection and what every executor on it shares. */
class Connection {
  readonly gate = new Mutex();
  readonly scope = new AsyncLocalStorage<SqliteTransaction>();
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    readonly db: Database.Database,
    private readonly busyTimeoutMs: number,
  ) {}

  /** BEGIN IMMEDIATE, retried asynchronously while another connection holds the write lock. */
  async begin(): Promise<void> {
    const deadline = performance.now() + this.busyTimeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS)) {
      this.db.pragma('busy_timeout = 0');
      try {
        this.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || performance.now() >= deadline) throw err;
      } finally {
        this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      }
      await sleep(delay);
    }
  }

  /** Prepared statements are cached by text (LRU): search and writes re-use a handful of shapes. */
  statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (stmt) {
      this.statements.delete(sql);
    } else {
      stmt = this.db.prepare(sql);
      if (this.statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.statements.keys().next().value as string;
        this.statements.delete(oldest);
      }
    }
    this.statements.set(sql, stmt);
    return stmt;
  }

  all<R>(sql: string, params: readonly SqlValue[]): R[] {
    return this.statement(sql).all(...params) as R[];
  }

  run(sql: string, params: readonly SqlValue[]): number {
    return this.statement(sql).run(...params).changes;
  }

  insert(batches: readonly RowBatch[]): void {
    for (const b of batches) {
      if (b.rows.length === 0) continue;
      const stmt = this.statement(
        `INSERT INTO ${b.table} (${b.columns.join(', ')}) VALUES (${b.columns.map(() => '?').join(', ')})`,
      );
      for (const row of b.rows) stmt.run(...row);
    }
  }

  /** The transaction the current async context runs in, if it is still open. */
  active(): SqliteTransaction | undefined {
    const tx = this.scope.getStore();
    return tx && !tx.closed ? tx : undefined;
  }
}

/** The executor stores are built on: outside a transaction, statements wait for any open one to end. */
export class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  private readonly conn: Connection;

  /** busyTimeoutMs: how long to wait for another connection's write lock. */
  constructor(db: Database.Database, busyTimeoutMs: number) {
    this.conn = new Connection(db, busyTimeoutMs);
  }

  async all<R extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    const tx = this.conn.active();
    if (tx) return tx.all<R>(sql, params);
    if (!this.conn.statement(sql).readonly) return this.transaction((t) => t.all<R>(sql, params));
    return whenFree(this.conn.gate, () => this.conn.all<R>(sql, params));
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    const tx = this.conn.active();
    if (tx) return tx.run(sql, params);
    return this.transaction((t) => t.run(sql, params));
  }

  async script(sql: string): Promise<void> {
    const tx = this.conn.active();
    if (tx) return tx.script(sql);
    return whenFree(this.conn.gate, () => void this.conn.db.exec(sql));
  }

  async insert(batches: readonly RowBatch[]): Promise<void> {
    const tx = this.conn.active();
    if (tx) return tx.insert(batches);
    return this.transaction((t) => t.insert(batches));
  }

  /** BEGIN IMMEDIATE takes SQLite's write lock up front (no lock upgrade deadlocks between processes). */
  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, opts?: TransactionOptions): Promise<T> {
    const active = this.conn.active();
    if (active) return active.transaction(fn, opts);
    const release = await this.conn.gate.acquire();
    const { db } = this.conn;
    const tx = new SqliteTransaction(this.conn);
    try {
      await this.conn.begin();
      const result = await this.conn.scope.run(tx, () => fn(tx));
      db.exec('COMMIT');
      return result;
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    } finally {
      tx.closed = true;
      release();
    }
  }
}

/** An open transaction (or savepoint within one); its statements run directly on the connection. */
class SqliteTransaction implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  closed = false;
  private readonly nested = new Mutex();

  constructor(
    private readonly conn: Connection,
    private readonly depth = 0,
  ) {}

  async all<R extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    this.assertOpen();
    return this.conn.all<R>(sql, params);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    this.assertOpen();
    return this.conn.run(sql, params);
  }

  async script(sql: string): Promise<void> {
    this.assertOpen();
    this.conn.db.exec(sql);
  }

  async insert(batches: readonly RowBatch[]): Promise<void> {
    this.assertOpen();
    this.conn.insert(batches);
  }

  /** A savepoint: its writes roll back alone when fn throws. No lock to take: BEGIN IMMEDIATE holds the only one. */
  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, _opts?: TransactionOptions): Promise<T> {
    this.assertOpen();
    const release = await this.nested.acquire();
    const name = `sp${this.depth + 1}`;
    const child = new SqliteTransaction(this.conn, this.depth + 1);
    try {
      this.conn.db.exec(`SAVEPOINT ${name}`);
    } catch (err) {
      release();
      throw err;
    }
    try {
      const result = await this.conn.scope.run(child, () => fn(child));
      this.conn.db.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      this.conn.db.exec(`ROLLBACK TO ${name}`);
      this.conn.db.exec(`RELEASE ${name}`);
      throw err;
    } finally {
      child.closed = true;
      release();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('transaction already ended: use the store passed to the transaction callback only inside it');
  }
}
