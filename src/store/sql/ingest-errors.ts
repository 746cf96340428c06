import { isoNow, type Clock } from '../../core/clock.js';
import { newId } from '../../core/ids.js';
import type { IngestError, IngestErrorQueue, IngestErrorStatus } from '../types.js';
import { jsonColumn, type SqlExecutor } from './executor.js';

const COLUMNS = 'id, received, channel, format, source, input, outcome, status, attempts, updated_at';
type Row = Record<string, unknown>;

/** The ingest error queue: inputs kept verbatim with the OperationOutcome that refused them. */
export class SqlIngestErrorQueue implements IngestErrorQueue {
  constructor(
    private readonly db: SqlExecutor,
    private readonly clock: Clock,
  ) {}

  async add(e: Omit<IngestError, 'id' | 'received' | 'status' | 'attempts' | 'updatedAt'>): Promise<IngestError> {
    const now = isoNow(this.clock);
    const [row] = await this.db.all(
      `INSERT INTO ingest_errors (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', 0, ?) RETURNING ${COLUMNS}`,
      [newId(), now, e.channel, e.format, e.source, e.input, JSON.stringify(e.outcome), now],
    );
    return toError(row as Row);
  }

  async get(id: string): Promise<IngestError | undefined> {
    const [row] = await this.db.all(`SELECT ${COLUMNS} FROM ingest_errors WHERE id = ?`, [id]);
    return row && toError(row);
  }

  async list(opts: { status?: IngestErrorStatus; count?: number; offset?: number } = {}): Promise<IngestError[]> {
    const where = opts.status ? 'WHERE status = ?' : '';
    const params = opts.status ? [opts.status] : [];
    const rows = await this.db.all(
      `SELECT ${COLUMNS} FROM ingest_errors ${where} ORDER BY received, id LIMIT ? OFFSET ?`,
      [...params, opts.count ?? 1000, opts.offset ?? 0],
    );
    return rows.map(toError);
  }

  async recordAttempt(
    id: string,
    result: { resolved: true } | { resolved: false; outcome: Record<string, unknown> },
  ): Promise<IngestError | undefined> {
    const now = isoNow(this.clock);
    const [row] = result.resolved
      ? await this.db.all(
          `UPDATE ingest_errors SET status = 'resolved', attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING ${COLUMNS}`,
          [now, id],
        )
      : await this.db.all(
          `UPDATE ingest_errors SET outcome = ?, attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING ${COLUMNS}`,
          [JSON.stringify(result.outcome), now, id],
        );
    return row && toError(row);
  }
}

function toError(r: Row): IngestError {
  return {
    id: r.id as string,
    received: r.received as string,
    channel: r.channel as string,
    format: r.format as string,
    source: r.source as string,
    input: r.input as string,
    outcome: jsonColumn<Record<string, unknown>>(r.outcome),
    status: r.status as IngestErrorStatus,
    attempts: Number(r.attempts),
    updatedAt: r.updated_at as string,
  };
}
