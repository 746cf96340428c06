/**
 * `_summary` and `_elements`: returning part of each resource. Mandatory elements (min >= 1 in the
 * base definition), `id`, `meta` and modifier extensions are always kept, and every subsetted
 * resource is tagged SUBSETTED so nobody mistakes it for the whole record.
 *
 * See: https://hl7.org/fhir/R4/search.html#summary, https://hl7.org/fhir/R4/search.html#elements,
 * https://hl7.org/fhir/R4/v3/ObservationValue/cs.html (SUBSETTED)
 */
import { tryGetDataType, type InternalTypeSchema } from '@medplum/core';
import type { Coding, Resource } from '@medplum/fhirtypes';
import type { SummaryMode } from './search-parse.js';

export const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

const ALWAYS_KEPT: ReadonlySet<string> = new Set(['resourceType', 'id', 'meta', 'implicitRules', 'modifierExtension']);

export interface SubsetRequest {
  summary?: SummaryMode;
  elements?: readonly string[];
}

/** Whether the request asks for less than whole resources. */
export const isSubsetting = (s: SubsetRequest) =>
  Boolean(s.elements?.length) || (s.summary !== undefined && s.summary !== 'false' && s.summary !== 'count');

/**
 * The element name (as in the StructureDefinition, without `[x]`) a JSON property belongs to:
 * `valueQuantity` -> `value`, `_birthDate` -> `birthDate`, `status` -> `status`.
 */
export function elementOf(schema: InternalTypeSchema, key: string): string | undefined {
  const k = key.startsWith('_') ? key.slice(1) : key;
  if (schema.elements[k]) return k;
  for (const [path, el] of Object.entries(schema.elements)) {
    if (!path.endsWith('[x]')) continue;
    const base = path.slice(0, -3);
    if (!k.startsWith(base)) continue;
    const suffix = k.slice(base.length);
    if (el.type.some((t) => t.code.charAt(0).toUpperCase() + t.code.slice(1) === suffix)) return base;
  }
  return undefined;
}

/** Returns `r` shaped by `_summary`/`_elements`; `r` itself is not modified. */
export function subsetResource<T extends Resource>(r: T, req: SubsetRequest): T {
  if (!isSubsetting(req)) return r;
  const schema = tryGetDataType(r.resourceType);
  if (!schema) return r;
  const mandatory = schema.mandatoryProperties ?? new Set<string>();
  let keep: (element: string) => boolean;
  if (req.elements?.length) {
    // `value` and `valueQuantity` both name the choice element value[x].
    const wanted = new Set(req.elements.map((n) => elementOf(schema, n) ?? n));
    keep = (e) => wanted.has(e) || mandatory.has(e);
  } else if (req.summary === 'true') {
    const summary = schema.summaryProperties ?? new Set<string>();
    keep = (e) => summary.has(e) || mandatory.has(e);
  } else if (req.summary === 'text') {
    keep = (e) => e === 'text' || mandatory.has(e);
  } else {
    keep = (e) => e !== 'text'; // data
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(r)) {
    if (ALWAYS_KEPT.has(key)) {
      out[key] = value;
      continue;
    }
    const element = elementOf(schema, key);
    if (element !== undefined && keep(element)) out[key] = value;
  }
  const meta = { ...(r.meta ?? {}) };
  const tags = (meta.tag ?? []).filter((t) => !(t.system === SUBSETTED.system && t.code === SUBSETTED.code));
  meta.tag = [...tags, SUBSETTED];
  out.meta = meta;
  return out as T;
}
