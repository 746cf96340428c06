/**
 * Patient/[id]/$everything: the patient's compartment, paged, plus the non-patient resources those
 * pages reference (Practitioner, Organization, Location, Medication), all through policy and the
 * disclosure log (channel `everything`) like any other read.
 *
 * See: https://hl7.org/fhir/R4/patient-operation-everything.html
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { notFound } from '../core/outcome.js';
import type { FhirContext, FhirDeps, FhirResponse } from './types.js';
import type { ResourceCatalogue } from './resource-catalogue.js';
import { anyReleasable, anyVisible, authorize, logHidden, obligationEntries, releaseWithReferenced } from './disclose.js';
import { hiddenOrGone } from './read.js';
import { echo, invalidParamValue, unknownParam } from './errors.js';
import { isInstant } from './history.js';
import { collectReferenceStrings } from '../core/reference-strings.js';
import { parseLocalReference, refKey, uniqueRefs } from './references.js';
import { fullUrl, pageLinks, trimBase } from './response.js';
import { MAX_OFFSET } from './search-parse.js';

interface EverythingParams {
  types?: string[];
  since?: string;
  count: number;
  offset: number;
  linkParams: Array<[string, string]>;
}

function parseEverythingParams(
  params: ReadonlyArray<readonly [string, string]>,
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  strict: boolean,
): EverythingParams {
  const out: EverythingParams = { count: deps.limits.defaultCount, offset: 0, linkParams: [] };
  for (const [name, value] of params) {
    switch (name) {
      case '_count':
      case '_offset':
        if (!/^\d{1,9}$/.test(value)) throw invalidParamValue(name, 'must be a non-negative integer');
        if (name === '_count') out.count = Math.min(Number(value), deps.limits.maxCount);
        else out.offset = Math.min(Number(value), MAX_OFFSET);
        break;
      case '_since':
        if (!isInstant(value)) throw invalidParamValue('_since', 'must be an instant');
        out.since = value;
        out.linkParams.push([name, value]);
        break;
      case '_type': {
        const types = value.split(',').map((t) => t.trim()).filter(Boolean);
        if (!types.length) throw invalidParamValue('_type', 'a comma-separated list of resource types');
        for (const t of types) if (!catalogue.has(t)) throw invalidParamValue('_type', `${echo(t)} is not a supported resource type`);
        out.types = [...new Set([...(out.types ?? []), ...types])];
        out.linkParams.push([name, value]);
        break;
      }
      case '_format':
      case '_pretty':
        break;
      default:
        // start/end (care dates) are not supported; ignored unless the client asked for strict handling.
        if (strict) throw unknownParam(name);
    }
  }
  return out;
}

/** `GET [base]/Patient/[id]/$everything`: one page of the compartment and what it references. */
export async function patientEverything(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  ctx: FhirContext,
  id: string,
  params: ReadonlyArray<readonly [string, string]>,
  strict: boolean,
): Promise<FhirResponse> {
  const ep = parseEverythingParams(params, deps, catalogue, strict);
  const decision = authorize(deps, ctx, { interaction: 'everything', resourceType: 'Patient', id, patients: [id] });

  let patient: Resource;
  try {
    patient = await deps.store.read('Patient', id);
  } catch (err) {
    return hiddenOrGone(deps, ctx, 'Patient', id, err);
  }
  if (!(await anyVisible(deps, ctx, [patient]))) {
    logHidden(deps, ctx, 'everything', 'Patient');
    throw notFound(`Patient/${id}`);
  }

  const compartment = (count: number, offset: number) => deps.store.compartment(id, {
    ...(ep.types ? { types: ep.types } : {}),
    ...(ep.since ? { since: ep.since } : {}),
    count,
    offset,
  });
  const page = await compartment(ep.count, ep.offset);
  // What the page references is looked up from the resources that leave, never from ones policy holds back.
  const { resources, obligations, moreMayLeave } = await releaseWithReferenced(deps, ctx, decision, 'everything', page.resources,
    (released) => referencedOutsideCompartment(deps, catalogue, released, ep.types),
    {
      ...(page.next ? { next: page.next } : {}),
      laterReleasable: () => anyReleasable(deps, ctx, 'everything', compartment, ep.offset + ep.count + 1),
    });

  const matchKeys = new Set(page.resources.map(refKey));
  const entries: BundleEntry[] = resources.map((r) => ({
    fullUrl: fullUrl(deps.fhirBase, r),
    resource: r,
    search: { mode: matchKeys.has(refKey(r)) ? 'match' : 'include' },
  }));
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    link: pageLinks({
      url: `${trimBase(deps.fhirBase)}/Patient/${id}/$everything`,
      params: ep.linkParams,
      count: ep.count,
      offset: ep.offset,
      hasMore: moreMayLeave,
    }),
    entry: [...entries, ...obligationEntries(obligations)],
  };
  return { status: 200, body: bundle };
}

/**
 * Resources the page references that belong to no patient compartment (Practitioner, Organization,
 * Location, Medication, ...), bounded by limits.maxIncludes.
 */
async function referencedOutsideCompartment(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  pageResources: readonly Resource[],
  types: readonly string[] | undefined,
): Promise<Resource[]> {
  const outside = (t: string) => t !== 'Patient' && catalogue.has(t) && deps.defs.patientCompartmentParams(t).length === 0
    && (!types || types.includes(t));
  const refs = pageResources
    .flatMap((r) => collectReferenceStrings(r))
    .flatMap((s) => parseLocalReference(s, deps.fhirBase) ?? [])
    .filter((r) => outside(r.resourceType));
  const wanted = uniqueRefs(refs, new Set(pageResources.map(refKey))).slice(0, deps.limits.maxIncludes);
  return wanted.length ? deps.store.readMany(wanted) : [];
}
