import { isoNow, type Clock } from '../../core/clock.js';
import type { AdminTrail, AdminTrailEntry } from '../types.js';
import { jsonColumn, type SqlExecutor } from './executor.js';

const COLUMNS = 'seq, at, actor, action, target, before, after';
type Row = Record<string, unknown>;

/** Who changed what, when, with the before and after images. Append-only (database triggers). */
export class SqlAdminTrail implements AdminTrail {
  constructor(
    private readonly db: SqlExecutor,
    private readonly clock: Clock,
  ) {}

  async record(e: Omit<AdminTrailEntry, 'seq' | 'at'>): Promise<AdminTrailEntry> {
    const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    const [row] = await this.db.all(
      `INSERT INTO admin_trail (at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
      [isoNow(this.clock), e.actor, e.action, e.target, json(e.before), json(e.after)],
    );
    return toEntry(row as Row);
  }

  async list(opts: { target?: string; count?: number; offset?: number } = {}): Promise<AdminTrailEntry[]> {
    const where = opts.target ? 'WHERE target = ?' : '';
    const rows = await this.db.all(
      `SELECT ${COLUMNS} FROM admin_trail ${where} ORDER BY seq LIMIT ? OFFSET ?`,
      [...(opts.target ? [opts.target] : []), opts.count ?? 1000, opts.offset ?? 0],
    );
    return rows.map(toEntry);
  }
}

function toEntry(r: Row): AdminTrailEntry {
  return {
    seq: Number(r.seq),
    at: r.at as string,
    actor: r.actor as string,
    action: r.action as string,
    target: r.target as string,
    ...(r.before === null ? {} : { before: jsonColumn(r.before) }),
    ...(r.after === null ? {} : { after: jsonColumn(r.after) }),
  };
}
