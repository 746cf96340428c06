import { chainHash } from '../core/hash-chain.js';
import type { DisclosureInput } from './types.js';

/**
 * The fields a disclosure entry's hash covers: everything except prevHash and hash themselves.
 * hash = sha256(prevHash || canonicalJson(body)). Both stores compute it at append; `fxg audit verify` recomputes it.
 */
export function disclosureHashBody(e: DisclosureInput & { seq: number; recorded: string }): Record<string, unknown> {
  return {
    seq: e.seq,
    recorded: e.recorded,
    patient: e.patient,
    recipient: e.recipient,
    user: e.user,
    clientId: e.clientId,
    tokenId: e.tokenId,
    purposeOfUse: e.purposeOfUse,
    legalBasis: e.legalBasis,
    channel: e.channel,
    resources: e.resources,
    description: e.description,
    requestId: e.requestId,
    // Added after the first release: hashed only when present, so earlier entries still verify.
    ...(e.labels?.length ? { labels: e.labels } : {}),
  };
}

export function disclosureHash(prevHash: string, e: DisclosureInput & { seq: number; recorded: string }): string {
  return chainHash(prevHash, disclosureHashBody(e));
}
