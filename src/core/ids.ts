import { createHash, randomUUID } from 'node:crypto';

/** FHIR id: [A-Za-z0-9\-\.]{1,64}. See: https://hl7.org/fhir/R4/datatypes.html#id */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
export const isFhirId = (s: string) => FHIR_ID.test(s);

export const newId = () => randomUUID();

/**
 * A deterministic FHIR id from business identifiers: the same parts always give the same id, so the
 * same input mapped twice lands on the same resource. Formatted like a UUID (sha-256 of the parts,
 * first 128 bits, version nibble 5-style), 36 characters.
 */
export function stableId(...parts: ReadonlyArray<string | number | undefined>): string {
  const key = parts.map((p) => String(p ?? '')).join('\u001f');
  let id = recentIds.get(key);
  if (id === undefined) {
    const h = createHash('sha256').update(key).digest('hex');
    id = `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    // Ingest names the same practitioners, organizations and locations message after message: keep recent ids.
    if (recentIds.size >= RECENT_IDS) recentIds.clear();
    recentIds.set(key, id);
  }
  return id;
}

const RECENT_IDS = 10_000;
const recentIds = new Map<string, string>();
