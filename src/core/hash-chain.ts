import { createHash } from 'node:crypto';

/** Genesis value of a hash chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON: keys sorted, no whitespace, undefined dropped. Two equal entries always
 * serialize identically, which is what makes the chain verifiable by an independent tool.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** hash = sha256(prev_hash || canonical entry), hex. */
export function chainHash(prevHash: string, entry: unknown): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(entry)).digest('hex');
}
