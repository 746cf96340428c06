/**
 * Finding and rewriting references inside resources: what a search parameter points at (for
 * _include), every literal reference in a resource (for $everything and transaction urn:uuid
 * resolution).
 * See: https://hl7.org/fhir/R4/references.html#literal, https://hl7.org/fhir/R4/bundle.html#references
 */
import { evalFhirPath } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { FHIR_ID } from '../core/ids.js';
import { trimBase } from './response.js';

export interface ResourceRef {
  resourceType: string;
  id: string;
}

const RELATIVE = /^([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const RESOLVE_FILTER = /\.where\(resolve\(\) is ([A-Za-z]+)\)/g;

/**
 * Parses a literal reference into `{resourceType, id}` when it points into this server:
 * `Type/id`, `Type/id/_history/v`, or `{fhirBase}/Type/id`. Contained (`#x`), foreign absolute and
 * logical references give undefined.
 */
export function parseLocalReference(reference: string, fhirBase: string): ResourceRef | undefined {
  const base = `${trimBase(fhirBase)}/`;
  const rel = reference.startsWith(base) ? reference.slice(base.length) : reference;
  const m = RELATIVE.exec(rel);
  return m && FHIR_ID.test(m[2] as string) ? { resourceType: m[1] as string, id: m[2] as string } : undefined;
}

/**
 * The local references a search parameter's expression yields on `resource`.
 * `.where(resolve() is X)` cannot resolve in memory: it is applied as "the reference's type is X".
 */
export function referencesByExpression(resource: Resource, expression: string, fhirBase: string): ResourceRef[] {
  const requiredTypes = [...expression.matchAll(RESOLVE_FILTER)].map((m) => m[1] as string);
  let values: unknown[];
  try {
    values = evalFhirPath(expression.replace(RESOLVE_FILTER, ''), resource);
  } catch {
    return [];
  }
  const out: ResourceRef[] = [];
  for (const v of values) {
    const ref = (v as { reference?: unknown } | undefined)?.reference;
    if (typeof ref !== 'string') continue;
    const parsed = parseLocalReference(ref, fhirBase);
    if (parsed && (!requiredTypes.length || requiredTypes.includes(parsed.resourceType))) out.push(parsed);
  }
  return out;
}

/** An object holding a `reference` that names a Bundle entry's fullUrl, to be set once the entry's id is known. */
export interface ReferenceSlot {
  holder: Record<string, unknown>;
  fullUrl: string;
}

/** Every `reference` string (anywhere in value) that is one of `fullUrls`, as slots that can be set later. */
export function referenceSlots(value: unknown, fullUrls: ReadonlySet<string>, out: ReferenceSlot[] = []): ReferenceSlot[] {
  if (Array.isArray(value)) {
    for (const v of value) referenceSlots(v, fullUrls, out);
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (k === 'reference' && typeof v === 'string') {
        if (fullUrls.has(v)) out.push({ holder: obj, fullUrl: v });
      } else if (typeof v === 'object') {
        referenceSlots(v, fullUrls, out);
      }
    }
  }
  return out;
}

/** Deduplicates refs by `Type/id`, skipping those in `exclude`. */
export function uniqueRefs(refs: Iterable<ResourceRef>, exclude: ReadonlySet<string> = new Set()): ResourceRef[] {
  const seen = new Set(exclude);
  const out: ResourceRef[] = [];
  for (const r of refs) {
    const key = `${r.resourceType}/${r.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(r);
  }
  return out;
}

export const refKey = (r: { resourceType: string; id?: string }) => `${r.resourceType}/${r.id ?? ''}`;
