/**
 * Whether an error means the database cannot be reached or is busy right now (a transient state),
 * as opposed to a bug. The HTTP layer answers these with 503 `transient` + Retry-After (catalogue FI-2,
 * FI-3) instead of a 500, and never with partial data.
 */
const PG_UNAVAILABLE: ReadonlySet<string> = new Set([
  '57P01', '57P02', '57P03', // admin shutdown, crash shutdown, cannot connect now
  '08000', '08001', '08003', '08004', '08006', // connection exceptions
  '53300', // too many connections
]);
const NETWORK: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);
const SQLITE_BUSY: ReadonlySet<string> = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED']);

export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (PG_UNAVAILABLE.has(code) || NETWORK.has(code) || SQLITE_BUSY.has(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  // node-postgres: pool acquire timeout, and a connection lost mid-query.
  return /timeout exceeded when trying to connect|Connection terminated/i.test(message);
}
