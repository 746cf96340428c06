import { isoNow, type Clock } from '../../core/clock.js';
import { GENESIS_HASH } from '../../core/hash-chain.js';
import { disclosureHash } from '../disclosure-hash.js';
import type { DisclosureEntry, DisclosureInput, DisclosureLog } from '../types.js';
import { jsonColumn, type SqlExecutor } from './executor.js';
import { join, raw, sql, type SqlFragment, type SqlValue } from './sql.js';
import { isoInstant } from './time.js';

const COLUMNS = [
  'seq', 'recorded', 'patient', 'recipient', 'user_id', 'client_id', 'token_id', 'purpose_of_use',
  'legal_basis', 'channel', 'resources', 'description', 'request_id', 'prev_hash', 'hash', 'labels',
] as const;
const SELECT = `SELECT ${COLUMNS.join(', ')} FROM disclosure_log`;

type LogRow = Record<(typeof COLUMNS)[number], unknown>;

/**
 * The append-only, hash-chained disclosure log (design.md §6). append() holds the log's lock for
 * its whole transaction, so seq, recorded and prevHash are read and extended by one writer at a
 * time: the chain stays linear under any concurrency. The database refuses UPDATE and DELETE
 * (triggers, migrations 001).
 */
export class SqlDisclosureLog implements DisclosureLog {
  constructor(
    private readonly db: SqlExecutor,
    private readonly clock: Clock,
  ) {}

  /** Resolves after commit (synchronous=FULL / synchronous_commit=on make the commit durable). */
  append(entries: DisclosureInput[]): Promise<DisclosureEntry[]> {
    if (entries.length === 0) return Promise.resolve([]);
    return this.db.transaction(
      async (tx) => {
        const [last] = await tx.all<{ seq: number; hash: string; recorded: string }>(
          'SELECT seq, hash, recorded FROM disclosure_log ORDER BY seq DESC LIMIT 1',
        );
        const now = isoNow(this.clock);
        // Never decreasing, even if the clock steps back.
        const recorded = last && last.recorded > now ? last.recorded : now;
        let seq = last ? Number(last.seq) : 0;
        let prevHash = last?.hash ?? GENESIS_HASH;
        const out: DisclosureEntry[] = [];
        for (const input of entries) {
          seq += 1;
          const entry = { ...copyInput(input), seq, recorded };
          const hash = disclosureHash(prevHash, entry);
          out.push({ ...entry, prevHash, hash });
          prevHash = hash;
        }
        await tx.insert([{ table: 'disclosure_log', columns: COLUMNS, rows: out.map(toRow) }]);
        return out;
      },
      { lock: 'disclosure-log' },
    );
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

const jsonCopy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

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
