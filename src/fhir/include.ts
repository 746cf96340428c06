/**
 * _include and _revinclude for one page of matches, bounded by limits.maxIncludes. The resources
 * found here are candidates only: the caller passes matches and includes together through
 * policy (disclose.release), so an include can never carry out what policy would not release.
 *
 * See: https://hl7.org/fhir/R4/search.html#include
 */
import type { Resource } from '@medplum/fhirtypes';
import type { ResourceStore } from '../store/types.js';
import type { ResourceCatalogue } from './resource-catalogue.js';
import type { IncludeSpec } from './search-parse.js';
import { referencesByExpression, refKey, uniqueRefs, type ResourceRef } from './references.js';

export interface IncludeResult {
  resources: Resource[];
  /** True when maxIncludes cut the set short. */
  truncated: boolean;
}

export async function resolveIncludes(
  store: ResourceStore,
  catalogue: ResourceCatalogue,
  fhirBase: string,
  matches: readonly Resource[],
  specs: { includes: readonly IncludeSpec[]; revIncludes: readonly IncludeSpec[] },
  maxIncludes: number,
): Promise<IncludeResult> {
  const have = new Set(matches.map(refKey));
  const out: Resource[] = [];
  let truncated = false;
  if (!matches.length || (!specs.includes.length && !specs.revIncludes.length)) return { resources: out, truncated };

  const wanted: ResourceRef[] = [];
  for (const spec of specs.includes) {
    const def = catalogue.get(spec.sourceType)?.params.get(spec.param);
    if (!def) continue;
    for (const m of matches) {
      if (m.resourceType !== spec.sourceType) continue;
      for (const ref of referencesByExpression(m, def.expression, fhirBase)) {
        if (spec.targetType && ref.resourceType !== spec.targetType) continue;
        if (!catalogue.has(ref.resourceType)) continue;
        wanted.push(ref);
      }
    }
  }
  let refs = uniqueRefs(wanted, have);
  if (refs.length > maxIncludes) {
    truncated = true;
    refs = refs.slice(0, maxIncludes);
  }
  for (const r of refs.length ? await store.readMany(refs) : []) {
    if (have.has(refKey(r))) continue;
    have.add(refKey(r));
    out.push(r);
  }

  for (const spec of specs.revIncludes) {
    const budget = maxIncludes - out.length;
    if (budget <= 0) {
      truncated = true;
      break;
    }
    const targets = matches.filter((m) => !spec.targetType || m.resourceType === spec.targetType).map(refKey);
    if (!targets.length) continue;
    const found = await store.searchReferencing(spec.sourceType, spec.param, targets, budget + 1);
    if (found.length > budget) truncated = true;
    for (const r of found.slice(0, budget)) {
      if (have.has(refKey(r))) continue;
      have.add(refKey(r));
      out.push(r);
    }
  }
  return { resources: out, truncated };
}
