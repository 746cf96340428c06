/**
 * The HTTP Prefer header as FHIR uses it (RFC 7240).
 * See: https://hl7.org/fhir/R4/http.html#ops (return=) and https://hl7.org/fhir/R4/search.html#errors (handling=)
 */

export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

export interface Preferences {
  /** `handling=strict`: unknown search parameters are an error instead of being ignored. */
  strict: boolean;
  return?: ReturnPreference;
}

/** Parses `Prefer: handling=strict, return=minimal`; unknown or malformed preferences are ignored (RFC 7240 §2). */
export function parsePrefer(header: string | undefined): Preferences {
  const out: Preferences = { strict: false };
  if (!header) return out;
  for (const part of header.split(/[,;]/)) {
    const [rawName, rawValue] = part.split('=', 2);
    const name = rawName?.trim().toLowerCase();
    const value = rawValue?.trim().replace(/^"(.*)"$/, '$1');
    if (name === 'handling') out.strict = value?.toLowerCase() === 'strict';
    else if (name === 'return' && (value === 'minimal' || value === 'representation' || value === 'OperationOutcome')) {
      out.return = value;
    }
  }
  return out;
}
