import { randomUUID, createHash } from 'node:crypto';

/** FHIR id: [A-Za-z0-9\-\.]{1,64}. See: https://hl7.org/fhir/R4/datatypes.html#id */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
export const isFhirId = (s: string) => FHIR_ID.test(s);

export const newId = () => randomUUID();

/** A deterministic id (for idempotent ingest): a UUID-shaped sha256 of the parts. */
export function deterministicId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
