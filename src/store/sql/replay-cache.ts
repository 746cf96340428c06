import type { Clock } from '../../core/clock.js';
import type { ReplayCache } from '../types.js';
import type { SqlExecutor } from './executor.js';

/**
 * One-time keys (client-assertion jti, authorization codes). remember() is a single upsert: a new
 * key inserts; an existing key is replaced only if it has expired; otherwise nothing changes and no
 * row comes back. The database's unique key decides the race, so among concurrent callers exactly
 * one sees `true`. See: https://www.rfc-editor.org/rfc/rfc7523#section-3 (jti replay).
 */
export class SqlReplayCache implements ReplayCache {
  constructor(
    private readonly db: SqlExecutor,
    private readonly clock: Clock,
  ) {}

  async remember(key: string, expiresAtMs: number): Promise<boolean> {
    const rows = await this.db.all(
      `INSERT INTO replay_cache (key, expires_at) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay_cache.expires_at <= ?
       RETURNING key`,
      [key, Math.trunc(expiresAtMs), this.clock.now()],
    );
    return rows.length === 1;
  }

  purge(nowMs: number): Promise<number> {
    return this.db.run('DELETE FROM replay_cache WHERE expires_at <= ?', [Math.trunc(nowMs)]);
  }
}
