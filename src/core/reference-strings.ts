/** Reference strings in FHIR JSON, read without knowing the resource's structure (policy and the FHIR handlers share it). */

/** Every `reference` string anywhere in `value` (nested elements, extensions, contained resources). */
export function collectReferenceStrings(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) collectReferenceStrings(v, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else if (typeof v === 'object') collectReferenceStrings(v, out);
    }
  }
  return out;
}
