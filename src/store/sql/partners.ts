import { isoNow, type Clock } from '../../core/clock.js';
import { badRequest } from '../../core/outcome.js';
import type { JsonWebKeySet, Partner, PartnerStatus, PartnerStore } from '../types.js';
import { jsonColumn, type SqlExecutor } from './executor.js';

interface PartnerRow extends Record<string, unknown> {
  id: string;
  name: string;
  kind: Partner['kind'];
  address: string | null;
  status: PartnerStatus;
  jwks: unknown;
  jwks_url: string | null;
  scopes: unknown;
  agreement: unknown;
  created_at: string;
  updated_at: string;
}

const COLUMNS = 'id, name, kind, address, status, jwks, jwks_url, scopes, agreement, created_at, updated_at';

/** Partner registrations (the technical side of an agreement: keys, scopes, status). */
export class SqlPartnerStore implements PartnerStore {
  constructor(
    private readonly db: SqlExecutor,
    private readonly clock: Clock,
  ) {}

  async get(id: string): Promise<Partner | undefined> {
    const [row] = await this.db.all<PartnerRow>(`SELECT ${COLUMNS} FROM partners WHERE id = ?`, [id]);
    return row && toPartner(row);
  }

  async list(): Promise<Partner[]> {
    const rows = await this.db.all<PartnerRow>(`SELECT ${COLUMNS} FROM partners ORDER BY id`);
    return rows.map(toPartner);
  }

  /** Insert or replace; createdAt survives a replace. Refuses both jwks and jwksUrl (keys must have one source). */
  async upsert(p: Omit<Partner, 'createdAt' | 'updatedAt'>): Promise<Partner> {
    if (p.jwks && p.jwksUrl) throw badRequest(`partner ${p.id}: give jwks or jwksUrl, not both`);
    const now = isoNow(this.clock);
    const [row] = await this.db.all<PartnerRow>(
      `INSERT INTO partners (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, address = excluded.address,
         status = excluded.status, jwks = excluded.jwks, jwks_url = excluded.jwks_url, scopes = excluded.scopes,
         agreement = excluded.agreement, updated_at = excluded.updated_at
       RETURNING ${COLUMNS}`,
      [
        p.id, p.name, p.kind, p.address ?? null, p.status,
        p.jwks ? JSON.stringify(p.jwks) : null, p.jwksUrl ?? null, JSON.stringify(p.scopes),
        p.agreement === undefined ? null : JSON.stringify(p.agreement), now, now,
      ],
    );
    return toPartner(row as PartnerRow);
  }

  async setStatus(id: string, status: PartnerStatus): Promise<Partner | undefined> {
    const [row] = await this.db.all<PartnerRow>(
      `UPDATE partners SET status = ?, updated_at = ? WHERE id = ? RETURNING ${COLUMNS}`,
      [status, isoNow(this.clock), id],
    );
    return row && toPartner(row);
  }
}

function toPartner(r: PartnerRow): Partner {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    ...(r.address === null ? {} : { address: r.address }),
    status: r.status,
    ...(r.jwks === null ? {} : { jwks: jsonColumn<JsonWebKeySet>(r.jwks) }),
    ...(r.jwks_url === null ? {} : { jwksUrl: r.jwks_url }),
    scopes: jsonColumn<string[]>(r.scopes),
    ...(r.agreement === null || r.agreement === undefined ? {} : { agreement: jsonColumn<Record<string, unknown>>(r.agreement) }),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
