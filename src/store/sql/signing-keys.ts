import { conflict } from '../../core/outcome.js';
import type { SigningKey, SigningKeyStore } from '../types.js';
import { isUniqueViolation, jsonColumn, type SqlExecutor } from './executor.js';
import { isoInstant } from './time.js';

interface KeyRow extends Record<string, unknown> {
  kid: string;
  alg: string;
  private_jwk: unknown;
  public_jwk: unknown;
  created_at: string;
  retired_at: string | null;
}

/**
 * The gateway's own token-signing keys. Rotation retires a key (it stops signing, still verifies)
 * and prune() drops keys retired long enough ago that no token they signed is still valid.
 */
export class SqlSigningKeyStore implements SigningKeyStore {
  constructor(private readonly db: SqlExecutor) {}

  async list(): Promise<SigningKey[]> {
    const rows = await this.db.all<KeyRow>(
      'SELECT kid, alg, private_jwk, public_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at, kid',
    );
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      privateJwk: jsonColumn<Record<string, unknown>>(r.private_jwk),
      publicJwk: jsonColumn<Record<string, unknown>>(r.public_jwk),
      createdAt: r.created_at,
      ...(r.retired_at === null ? {} : { retiredAt: r.retired_at }),
    }));
  }

  /** Adds a key; a duplicate kid is a 409 (kids must stay unique in the published JWKS). */
  async add(key: SigningKey): Promise<void> {
    try {
      await this.db.run(
        'INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)',
        [
          key.kid, key.alg, JSON.stringify(key.privateJwk), JSON.stringify(key.publicJwk),
          isoInstant(key.createdAt), key.retiredAt === undefined ? null : isoInstant(key.retiredAt),
        ],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`signing key ${key.kid} already exists`);
      throw err;
    }
  }

  /** Retires a key once; retiring it again keeps the first retirement time. */
  async retire(kid: string, at: string): Promise<void> {
    await this.db.run('UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL', [isoInstant(at), kid]);
  }

  prune(before: string): Promise<number> {
    return this.db.run('DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?', [isoInstant(before)]);
  }
}
