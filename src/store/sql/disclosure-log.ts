import { isoNow, type Clock } from '../../core/clock.js';
import { GENESIS_HASH } from '../../core/hash-chain.js';
import { disclosureHash } from '../disclosure-hash.js';
import type { DisclosureEntry, DisclosureInput, DisclosureLog } from '../types.js';
import { isUniqueViolation, jsonColumn, type SqlExecutor } from './executor.js';
import { Mutex } from './mutex.js';
import { join, raw, sql, type SqlFragment, type SqlValue } from './sql.js';
import { isoInstant } from './time.js';

const COLUMNS = [
  'seq', 'recorded', 'patient', 'recipient', 'user_id', 'client_id', 'token_id', 'purpose_of_use',
  'legal_basis', 'channel', 'resources', 'description', 'request_id', 'prev_hash', 'hash', 'labels',
] as const;
const SELECT = `SELECT ${COLUMNS.join(', ')} FROM disclosure_log`;

type LogRow = Record<(typeof COLUMNS)[number], unknown>;

/** Entries per append that go in one INSERT statement; larger appends take the locked transaction. */
const SINGLE_STATEMENT_ROWS = 64;
/** Locked attempts before an append gives up (each one lost only to a writer that had not taken the lock). */
const MAX_LOCKED_ATTEMPTS = 100;

interface Head { seq: number; hash: string; recorded: string }

/**
 * The append-only, hash-chained disclosure log (design.md §6). The database refuses UPDATE and DELETE
 * (triggers, migrations 001).
 *
 * The chain stays linear under any concurrency, across processes, because `seq` is the primary key: entries
 * are computed from a chain head (seq, hash, recorded) and inserted as a whole; if another writer extended
 * the chain first, the first seq already exists and the insert fails on the key, entirely.
 * - Fast path: the head this process last committed is kept, and an append is one INSERT computed from it
 *   (one round trip on PostgreSQL, one commit), without reading anything.
 * - Otherwise (no head known, the fast insert lost to another process, more than SINGLE_STATEMENT_ROWS
 *   entries, or the caller is inside a transaction of its own): a transaction holding the log's lock reads
 *   the head and inserts, retried when it loses to a fast-path writer of another process. Locked writers
 *   queue behind each other, so under contention every writer progresses.
 * The head is kept only after an append committed in its own transaction: an append inside a caller's
 * transaction may still be rolled back with it.
 */
export class SqlDisclosureLog implements DisclosureLog {
  private head: Head | undefined;
  private readonly inProcess = new Mutex();

  constructor(
    private readonly db: SqlExecutor,
    private readonly clock: Clock,
  ) {}

  /** Resolves after commit (synchronous=FULL / synchronous_commit=on make the commit durable). */
  async append(entries: DisclosureInput[]): Promise<DisclosureEntry[]> {
    if (entries.length === 0) return [];
    // One append at a time in this process: the head it knows stays current, and only another process's
    // appends can make a statement fail on the key.
    const release = await this.inProcess.acquire();
    try {
      const ownTransaction = !this.db.inTransaction();
      const head = ownTransaction ? this.head : undefined;
      this.head = undefined;
      let out: DisclosureEntry[] | undefined;
      if (head && entries.length <= SINGLE_STATEMENT_ROWS) out = await this.insertAfter(entries, head);
      out ??= await this.appendLocked(entries);
      if (ownTransaction) this.head = headOf(out);
      return out;
    } finally {
      release();
    }
  }

  /** One INSERT after `head`; undefined when another writer got there first. */
  private async insertAfter(entries: DisclosureInput[], head: Head): Promise<DisclosureEntry[] | undefined> {
    const out = this.chain(entries, head);
    try {
      await this.db.run(insertStatement(out.length), out.flatMap(toRow));
      return out;
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  private async appendLocked(entries: DisclosureInput[]): Promise<DisclosureEntry[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(
          async (tx) => {
            const chained = this.chain(entries, await this.readHead(tx));
            await tx.insert([{ table: 'disclosure_log', columns: COLUMNS, rows: chained.map(toRow) }]);
            return chained;
          },
          { lock: 'disclosure-log' },
        );
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= MAX_LOCKED_ATTEMPTS || this.db.inTransaction()) throw err;
      }
    }
  }

  private async readHead(db: SqlExecutor): Promise<Head | undefined> {
    const [last] = await db.all<{ seq: number; hash: string; recorded: string }>(
      'SELECT seq, hash, recorded FROM disclosure_log ORDER BY seq DESC LIMIT 1',
    );
    return last && { seq: Number(last.seq), hash: last.hash, recorded: last.recorded };
  }

  /** The entries extending `head`: consecutive seqs, each hashed over its predecessor. */
  private chain(entries: DisclosureInput[], head: Head | undefined): DisclosureEntry[] {
    const now = isoNow(this.clock);
    // Never decreasing, even if the clock steps back.
    const recorded = head && head.recorded > now ? head.recorded : now;
    let seq = head?.seq ?? 0;
    let prevHash = head?.hash ?? GENESIS_HASH;
    const out: DisclosureEntry[] = [];
    for (const input of entries) {
      seq += 1;
      const entry = { ...copyInput(input), seq, recorded };
      const hash = disclosureHash(prevHash, entry);
      out.push({ ...entry, prevHash, hash });
      prevHash = hash;
    }
    return out;
  }

  async listByPatient(
    patient: string,
    opts: { since?: string; until?: string; count?: number; offset?: number } = {},
  ): Promise<DisclosureEntry[]> {
    const where: SqlFragment[] = [sql`patient = ${patient}`];
    if (opts.since !== undefined) where.push(sql`recorded >= ${isoInstant(opts.since)}`);
    if (opts.until !== undefined) where.push(sql`recorded < ${isoInstant(opts.until)}`);
    // LIMIT -1 is not portable; a count larger than any log stands in for "no limit".
    const q = sql`${raw(SELECT)} WHERE ${join(where, ' AND ')} ORDER BY seq LIMIT ${opts.count ?? Number.MAX_SAFE_INTEGER} OFFSET ${opts.offset ?? 0}`;
    const rows = await this.db.all<LogRow>(q.text, q.params);
    return rows.map(fromRow);
  }

  async scan(afterSeq: number, limit: number): Promise<DisclosureEntry[]> {
    const rows = await this.db.all<LogRow>(`${SELECT} WHERE seq > ? ORDER BY seq LIMIT ?`, [afterSeq, limit]);
    return rows.map(fromRow);
  }

  async count(): Promise<number> {
    const [row] = await this.db.all<{ n: number }>('SELECT COUNT(*) AS n FROM disclosure_log');
    return Number(row?.n ?? 0);
  }
}

/**
 * Only the DisclosureInput fields, with JSON values copied through JSON: what is hashed is exactly
 * what is stored and read back (undefined members dropped), and later caller mutations cannot
 * change a returned entry.
 */
function copyInput(e: DisclosureInput): DisclosureInput {
  return {
    patient: e.patient,
    recipient: jsonCopy(e.recipient),
    ...(e.user === undefined ? {} : { user: e.user }),
    clientId: e.clientId,
    tokenId: e.tokenId,
    purposeOfUse: e.purposeOfUse,
    legalBasis: e.legalBasis,
    channel: e.channel,
    resources: jsonCopy(e.resources),
    description: e.description,
    requestId: e.requestId,
    ...(e.labels?.length ? { labels: [...e.labels] } : {}),
  };
}

/** A deep copy of plain JSON data (what the entry holds: strings in objects and arrays), undefined members dropped as JSON drops them. */
function jsonCopy<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : jsonCopy(x))) as T;
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k in v) if (Object.hasOwn(v, k) && (v as Record<string, unknown>)[k] !== undefined) out[k] = jsonCopy((v as Record<string, unknown>)[k]);
  return out as T;
}

const headOf = (out: DisclosureEntry[]): Head => {
  const last = out[out.length - 1] as DisclosureEntry;
  return { seq: last.seq, hash: last.hash, recorded: last.recorded };
};

const TUPLE = `(${COLUMNS.map(() => '?').join(', ')})`;
const insertStatement = (rows: number) =>
  `INSERT INTO disclosure_log (${COLUMNS.join(', ')}) VALUES ${Array(rows).fill(TUPLE).join(', ')}`;

function toRow(e: DisclosureEntry): SqlValue[] {
  return [
    e.seq, e.recorded, e.patient, JSON.stringify(e.recipient), e.user ?? null, e.clientId, e.tokenId, e.purposeOfUse,
    e.legalBasis, e.channel, JSON.stringify(e.resources), e.description, e.requestId, e.prevHash, e.hash,
    e.labels?.length ? JSON.stringify(e.labels) : null,
  ];
}

function fromRow(r: LogRow): DisclosureEntry {
  return {
    seq: Number(r.seq),
    recorded: r.recorded as string,
    patient: r.patient as string,
    recipient: jsonColumn<DisclosureEntry['recipient']>(r.recipient),
    ...(r.user_id === null ? {} : { user: r.user_id as string }),
    clientId: r.client_id as string,
    tokenId: r.token_id as string,
    purposeOfUse: r.purpose_of_use as string,
    legalBasis: r.legal_basis as string,
    channel: r.channel as DisclosureEntry['channel'],
    resources: jsonColumn<DisclosureEntry['resources']>(r.resources),
    description: r.description as string,
    requestId: r.request_id as string,
    prevHash: r.prev_hash as string,
    hash: r.hash as string,
    ...(r.labels === null || r.labels === undefined ? {} : { labels: jsonColumn<string[]>(r.labels) }),
  };
}
