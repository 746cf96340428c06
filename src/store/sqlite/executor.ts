/**
 * SqlExecutor over a better-sqlite3 write connection (plus, for files, a read connection). better-sqlite3 is synchronous, so a single
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
/** Rows per INSERT statement: few statement shapes per table, well under SQLite's parameter limit. */
const MAX_INSERT_ROWS = 64;

/** Prepared statements of one connection, cached by text (LRU): search and writes re-use a handful of shapes. */
class Statements {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  get(sql: string): Database.Statement {
    let stmt = this.cache.get(sql);
    if (stmt) {
      this.cache.delete(sql);
    } else {
      stmt = this.db.prepare(sql);
      if (this.cache.size >= STATEMENT_CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.set(sql, stmt);
    return stmt;
  }
}

/** The write connection and what every executor on it shares. */
class Connection {
  readonly gate = new Mutex();
  readonly scope = new AsyncLocalStorage<SqliteTransaction>();
  readonly statements: Statements;

  constructor(
    readonly db: Database.Database,
    private readonly busyTimeoutMs: number,
  ) {
    this.statements = new Statements(db);
  }

  /** BEGIN IMMEDIATE, retried asynchronously while another connection holds the write lock. */
  async begin(): Promise<void> {
    const deadline = performance.now() + this.busyTimeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS)) {
      this.db.pragma('busy_timeout = 0');
      try {
        this.control('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || performance.now() >= deadline) throw err;
      } finally {
        this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      }
      await sleep(delay);
    }
  }

  all<R>(sql: string, params: readonly SqlValue[]): R[] {
    return this.statements.get(sql).all(...params) as R[];
  }

  run(sql: string, params: readonly SqlValue[]): number {
    return this.statements.get(sql).run(...params).changes;
  }

  /** One multi-row INSERT per table (per MAX_INSERT_ROWS): far fewer statement executions than a row at a time. */
  insert(batches: readonly RowBatch[]): void {
    for (const b of batches) {
      const tuple = `(${b.columns.map(() => '?').join(', ')})`;
      for (let start = 0; start < b.rows.length; start += MAX_INSERT_ROWS) {
        const rows = b.rows.slice(start, start + MAX_INSERT_ROWS);
        const text = `INSERT INTO ${b.table} (${b.columns.join(', ')}) VALUES ${Array(rows.length).fill(tuple).join(', ')}`;
        this.statements.get(text).run(...rows.flat());
      }
    }
  }

  /** Transaction control through cached statements (db.exec would parse the text every time). */
  control(sql: string): void {
    this.statements.get(sql).run();
  }

  /** The transaction the current async context runs in, if it is still open. */
  active(): SqliteTransaction | undefined {
    const tx = this.scope.getStore();
    return tx && !tx.closed ? tx : undefined;
  }
}

/**
 * The executor stores are built on. Outside a transaction, reads run on the write connection while
 * no transaction is open there; while one is, they go to the read connection when there is one (a
 * file database: WAL lets it read the last commit meanwhile), otherwise they wait for the
 * transaction to end. Writes run in a transaction of their own.
 */
export class SqliteExecutor implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  private readonly conn: Connection;
  private readonly reader: Statements | undefined;

  /** busyTimeoutMs: how long to wait for another connection's write lock. reader: a read-only connection to the same file. */
  constructor(db: Database.Database, busyTimeoutMs: number, reader?: Database.Database) {
    this.conn = new Connection(db, busyTimeoutMs);
    this.reader = reader && new Statements(reader);
  }

  inTransaction(): boolean {
    return this.conn.active() !== undefined;
  }

  async all<R extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    const tx = this.conn.active();
    if (tx) return tx.all<R>(sql, params);
    const stmt = this.conn.statements.get(sql);
    if (!stmt.readonly) return this.transaction((t) => t.all<R>(sql, params));
    // No transaction open on the write connection: read there. It sees the last commit, as the
    // reader would, and its page cache survives its own commits; the reader's cache is dropped
    // whenever another connection has committed (every disclosure does), which makes its reads
    // several times slower (docs/benchmarks.md).
    if (!this.conn.gate.locked && !this.conn.db.inTransaction) return stmt.all(...params) as R[];
    const { reader } = this;
    if (reader) return reader.get(sql).all(...params) as R[];
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
      this.conn.control('COMMIT');
      return result;
    } catch (err) {
      if (db.inTransaction) this.conn.control('ROLLBACK');
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

  inTransaction(): boolean {
    return true;
  }

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
      this.conn.control(`SAVEPOINT ${name}`);
    } catch (err) {
      release();
      throw err;
    }
    try {
      const result = await this.conn.scope.run(child, () => fn(child));
      this.conn.control(`RELEASE ${name}`);
      return result;
    } catch (err) {
      this.conn.control(`ROLLBACK TO ${name}`);
      this.conn.control(`RELEASE ${name}`);
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
