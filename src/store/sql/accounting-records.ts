import { isoNow, type Clock } from '../../core/clock.js';
import type { AccountingRecords, StoredSuspension } from '../types.js';
import { jsonColumn, type SqlExecutor } from './executor.js';

type Row = Record<string, unknown>;

/** Suspensions of the right to an accounting (45 CFR 164.528(a)(2)) and the accountings provided (164.530(j)). */
export class SqlAccountingRecords implements AccountingRecords {
  constructor(
    private readonly db: SqlExecutor,
    private readonly clock: Clock,
  ) {}

  async addSuspension(s: Omit<StoredSuspension, 'recordedAt'>): Promise<StoredSuspension> {
    const recordedAt = isoNow(this.clock);
    await this.db.run(
      'INSERT INTO accounting_suspensions (id, patient, body, recorded_at) VALUES (?, ?, ?, ?)',
      [s.id, s.patient ?? null, JSON.stringify(s.body), recordedAt],
    );
    return { ...s, recordedAt };
  }

  async suspensionsFor(patient: string): Promise<StoredSuspension[]> {
    const rows = await this.db.all(
      'SELECT id, patient, body, recorded_at FROM accounting_suspensions WHERE patient = ? OR patient IS NULL ORDER BY recorded_at, id',
      [patient],
    );
    return rows.map(toSuspension);
  }

  async listSuspensions(): Promise<StoredSuspension[]> {
    const rows = await this.db.all('SELECT id, patient, body, recorded_at FROM accounting_suspensions ORDER BY recorded_at, id');
    return rows.map(toSuspension);
  }

  async recordProvided(r: { id: string; patient: string; body: Record<string, unknown> }): Promise<void> {
    await this.db.run('INSERT INTO accountings_provided (id, patient, at, body) VALUES (?, ?, ?, ?)', [
      r.id, r.patient, isoNow(this.clock), JSON.stringify(r.body),
    ]);
  }

  async listProvided(patient: string) {
    const rows = await this.db.all('SELECT id, patient, at, body FROM accountings_provided WHERE patient = ? ORDER BY at, id', [patient]);
    return rows.map((r: Row) => ({
      id: r.id as string, patient: r.patient as string, at: r.at as string, body: jsonColumn<Record<string, unknown>>(r.body),
    }));
  }
}

function toSuspension(r: Row): StoredSuspension {
  return {
    id: r.id as string,
    ...(r.patient === null ? {} : { patient: r.patient as string }),
    body: jsonColumn<Record<string, unknown>>(r.body),
    recordedAt: r.recorded_at as string,
  };
}
