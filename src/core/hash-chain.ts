import { createHash } from 'node:crypto';

/** Genesis value of a hash chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON: keys sorted, no whitespace, undefined dropped. Two equal entries always
 * serialize identically, which is what makes the chain verifiable by an independent tool.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i] === undefined ? null : value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const k of keys) {
    if (obj[k] === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonicalJson(obj[k])}`;
  }
  return `${out}}`;
}

/** hash = sha256(prev_hash || canonical entry), hex. */
export function chainHash(prevHash: string, entry: unknown): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(entry)).digest('hex');
}
