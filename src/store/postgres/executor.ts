/**
 * SqlExecutor over a pg Pool. Statements outside a transaction go to any pooled connection; a
 * transaction holds one client from BEGIN to COMMIT, and AsyncLocalStorage routes the transaction
 * body's calls (on any store built on this executor) to that client.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Row, RowBatch, SqlExecutor, TransactionOptions } from '../sql/executor.js';
import { Mutex } from '../sql/mutex.js';
import type { SqlValue } from '../sql/sql.js';

/** PostgreSQL allows 65,535 bind parameters per statement; stay well below. */
const MAX_PARAMS = 30_000;
const STATEMENT_CACHE_SIZE = 1000;

/**
 * `?` -> `$1..$n` (the shared SQL never has `?` inside literals, so a plain scan is exact), and a
 * statement name derived from the text: pg then prepares each statement shape once per connection
 * and PostgreSQL skips re-planning it (planning costs more than executing a typical search).
 */
class Statements {
  private readonly cache = new Map<string, { name: string; text: string }>();

  get(sql: string): { name: string; text: string } {
    let out = this.cache.get(sql);
    if (out === undefined) {
      let n = 0;
      const text = sql.replace(/\?/g, () => `$${++n}`);
      out = { name: `fxg_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`, text };
      if (this.cache.size >= STATEMENT_CACHE_SIZE) this.cache.clear();
      this.cache.set(sql, out);
    }
    return out;
  }
}

type Queryable = Pool | PoolClient;

interface Shared {
  pool: Pool;
  statements: Statements;
  scope: AsyncLocalStorage<PgTransaction>;
  /** Advisory lock names are scoped by schema, so test schemas never block each other. */
  lockPrefix: string;
}

async function all<R>(s: Shared, q: Queryable, sql: string, params: readonly SqlValue[]): Promise<R[]> {
  const res = await q.query({ ...s.statements.get(sql), values: params as SqlValue[] });
  return res.rows as R[];
}

async function run(s: Shared, q: Queryable, sql: string, params: readonly SqlValue[]): Promise<number> {
  const res = await q.query({ ...s.statements.get(sql), values: params as SqlValue[] });
  return res.rowCount ?? 0;
}

/**
 * One statement per group of batches: `WITH a AS (INSERT ...), b AS (INSERT ...) INSERT ...`,
 * so a resource and all its index rows cost one round trip.
 */
async function insert(q: Queryable, batches: readonly RowBatch[]): Promise<void> {
  const inserts: Array<{ text: string; params: SqlValue[] }> = [];
  let current: string[] = [];
  let params: SqlValue[] = [];
  const flush = () => {
    if (!current.length) return;
    const last = current.pop() as string;
    const ctes = current.map((c, i) => `b${i} AS (${c})`);
    inserts.push({ text: ctes.length ? `WITH ${ctes.join(', ')} ${last}` : last, params });
    current = [];
    params = [];
  };
  for (const b of batches) {
    const width = b.columns.length;
    const perStatement = Math.max(1, Math.floor(MAX_PARAMS / width));
    for (let start = 0; start < b.rows.length; start += perStatement) {
      const rows = b.rows.slice(start, start + perStatement);
      if (params.length + rows.length * width > MAX_PARAMS) flush();
      const tuples = rows.map((row) => {
        const first = params.length;
        params.push(...row);
        return `(${row.map((_, i) => `$${first + i + 1}`).join(', ')})`;
      });
      current.push(`INSERT INTO ${b.table} (${b.columns.join(', ')}) VALUES ${tuples.join(', ')}`);
    }
  }
  flush();
  for (const s of inserts) await q.query(s.text, s.params);
}

export class PgExecutor implements SqlExecutor {
  readonly dialect = 'postgres' as const;
  private readonly shared: Shared;

  constructor(pool: Pool, schema: string) {
    this.shared = { pool, statements: new Statements(), scope: new AsyncLocalStorage(), lockPrefix: `${schema}:` };
  }

  private active(): PgTransaction | undefined {
    const tx = this.shared.scope.getStore();
    return tx && !tx.closed ? tx : undefined;
  }

  inTransaction(): boolean {
    return this.active() !== undefined;
  }

  all<R extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    return this.active()?.all<R>(sql, params) ?? all<R>(this.shared, this.shared.pool, sql, params);
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.active()?.run(sql, params) ?? run(this.shared, this.shared.pool, sql, params);
  }

  async script(sql: string): Promise<void> {
    const tx = this.active();
    if (tx) return tx.script(sql);
    await this.shared.pool.query(sql);
  }

  insert(batches: readonly RowBatch[]): Promise<void> {
    const tx = this.active();
    if (tx) return tx.insert(batches);
    // Several statements must commit together.
    return this.transaction((t) => t.insert(batches));
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, opts?: TransactionOptions): Promise<T> {
    const active = this.active();
    if (active) return active.transaction(fn, opts);
    const client = await this.shared.pool.connect();
    const tx = new PgTransaction(this.shared, client);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      if (opts?.lock) await tx.lock(opts.lock);
      const result = await this.shared.scope.run(tx, () => fn(tx));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error; // the connection is unusable: destroy it, not back to the pool
      }
      throw err;
    } finally {
      tx.closed = true;
      client.release(broken);
    }
  }
}

/** One open transaction on one client (or a savepoint within it). */
class PgTransaction implements SqlExecutor {
  readonly dialect = 'postgres' as const;
  closed = false;
  private readonly nested = new Mutex();

  constructor(
    private readonly shared: Shared,
    private readonly client: PoolClient,
    private readonly depth = 0,
  ) {}

  inTransaction(): boolean {
    return true;
  }

  all<R extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    this.assertOpen();
    return all<R>(this.shared, this.client, sql, params);
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    this.assertOpen();
    return run(this.shared, this.client, sql, params);
  }

  async script(sql: string): Promise<void> {
    this.assertOpen();
    await this.client.query(sql);
  }

  insert(batches: readonly RowBatch[]): Promise<void> {
    this.assertOpen();
    return insert(this.client, batches);
  }

  /** Transaction-scoped advisory lock: released by COMMIT or ROLLBACK, never leaked. */
  async lock(name: string): Promise<void> {
    await this.client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.shared.lockPrefix + name]);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>, opts?: TransactionOptions): Promise<T> {
    this.assertOpen();
    const release = await this.nested.acquire();
    const name = `sp${this.depth + 1}`;
    const child = new PgTransaction(this.shared, this.client, this.depth + 1);
    try {
      await this.client.query(`SAVEPOINT ${name}`);
    } catch (err) {
      release();
      throw err;
    }
    try {
      if (opts?.lock) await child.lock(opts.lock);
      const result = await this.shared.scope.run(child, () => fn(child));
      await this.client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      await this.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await this.client.query(`RELEASE SAVEPOINT ${name}`);
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
