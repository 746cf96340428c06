/**
 * search-type (`GET [base]/[type]?...`, `POST [base]/[type]/_search`): parse, authorize, query the
 * store narrowed by the decision, add _include/_revinclude, release the whole set through policy and
 * the disclosure log, and answer a searchset Bundle. `total` is given only when nothing was narrowed
 * or held back, so a count cannot reveal what policy hid.
 *
 * See: https://hl7.org/fhir/R4/http.html#search, https://hl7.org/fhir/R4/search.html,
 * https://hl7.org/fhir/R4/bundle.html#searchset
 */
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { GW_CODE_SYSTEM } from '../core/outcome.js';
import { consentsApplyTo } from '../policy/consent.js';
import type { SearchQuery } from '../store/types.js';
import type { FhirContext, FhirDeps, FhirResponse } from './types.js';
import type { ResourceCatalogue } from './resource-catalogue.js';
import { anyReleasable, authorize, isNarrowed, obligationEntries, release, releaseWithReferenced, type Permit } from './disclose.js';
import { resolveIncludes } from './include.js';
import { fullUrl, pageLinks, trimBase } from './response.js';
import { parseSearch, type ParsedSearch } from './search-parse.js';
import { subsetResource } from './subset.js';
import { refKey } from './references.js';

export interface SearchInput {
  type: string;
  params: ReadonlyArray<readonly [string, string]>;
  strict: boolean;
}

/** Runs a search-type interaction and returns the searchset Bundle. */
export async function searchType(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  ctx: FhirContext,
  input: SearchInput,
): Promise<FhirResponse> {
  const parsed = parseSearch(catalogue, input.type, input.params, {
    strict: input.strict, limits: deps.limits, fhirBase: deps.fhirBase,
  });
  const bundle = await runSearch(deps, catalogue, ctx, parsed);
  return { status: 200, body: bundle };
}

/** The search itself, from a parsed request (searchType; batch GET entries come through searchType too). */
export async function runSearch(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  ctx: FhirContext,
  parsed: ParsedSearch,
): Promise<Bundle> {
  const decision = authorize(deps, ctx, {
    interaction: 'search', resourceType: parsed.resourceType, ...(parsed.patients.length ? { patients: parsed.patients } : {}),
  });
  const narrowed = isNarrowed(decision);
  // Bundle.total is optional in a searchset; counting costs a second query, so it is computed only
  // when asked for (_summary=count, _total=accurate|estimate). See https://hl7.org/fhir/R4/search.html#total
  const wantTotal = parsed.summary === 'count' || parsed.total === 'accurate' || parsed.total === 'estimate';
  // A total over patient data says something about patients (how many results a patient or an
  // identifier has), so there it is only the count of what policy lets leave, and it is recorded.
  const aboutPatients = parsed.resourceType === 'Patient' || deps.defs.patientCompartmentParams(parsed.resourceType).length > 0;
  // The store's own count serves only where policy cannot withhold a match after the query: data that names
  // no patient, for the organization's own systems. For a partner even such data may be held back (a labelled
  // Medication: policy.release), so its total is counted like patient data's.
  const storeCount = !aboutPatients && !consentsApplyTo(ctx.principal.partner.kind);

  const query: SearchQuery = {
    resourceType: parsed.resourceType,
    filters: parsed.filters,
    ...(narrowed ? { narrow: decision.narrow } : {}),
    ...(parsed.sort.length ? { sort: parsed.sort } : {}),
    count: parsed.count,
    offset: parsed.offset,
  };
  const result = await deps.store.search({ ...query, total: wantTotal && !narrowed && storeCount });

  // Includes are looked up from the matches that leave, never from ones policy holds back.
  let truncated = false;
  const { resources, dropped, obligations, moreMayLeave } = await releaseWithReferenced(deps, ctx, decision, 'search', result.resources,
    async (released) => {
      const included = await resolveIncludes(deps.store, catalogue, deps.fhirBase, released, parsed, deps.limits.maxIncludes);
      truncated = included.truncated;
      return included.resources;
    },
    {
      ...(result.next ? { next: result.next } : {}),
      laterReleasable: () => anyReleasable(deps, ctx, 'search', (count, offset) => deps.store.search({ ...query, count, offset }),
        parsed.offset + parsed.count + 1),
    });

  let total: number | undefined;
  if (wantTotal && storeCount) {
    total = result.total !== undefined && !narrowed && dropped === 0 ? result.total : undefined;
  } else if (wantTotal && !narrowed && parsed.count === 0) {
    total = await countReleased(deps, ctx, decision, parsed);
  } else if (wantTotal && !narrowed && dropped === 0 && result.resources.length > 0) {
    // Every match on this page left and was recorded.
    if (parsed.patients.length === 1 && ctx.principal.partner.kind === 'internal') {
      // The organization's own system: the total adds how many more the one named patient has. With several
      // named patients it would count patients this page recorded nothing for.
      const all = await deps.store.search({
        resourceType: parsed.resourceType, filters: parsed.filters, count: 0, offset: 0, total: true,
      });
      total = all.total;
    } else if (parsed.offset === 0 && !moreMayLeave) {
      // Nothing after this page may leave, so what may leave is this page. (The store's own count, or whether
      // it has more, would also count what policy holds back.)
      total = result.resources.length;
    }
  }

  const matchKeys = new Set(result.resources.map(refKey));
  const entries: BundleEntry[] = resources.map((r) => {
    const isMatch = matchKeys.has(refKey(r));
    return {
      fullUrl: fullUrl(deps.fhirBase, r),
      resource: isMatch ? subsetResource(r, parsed) : r,
      search: { mode: isMatch ? 'match' : 'include' },
    };
  });
  if (truncated) entries.push(truncationNotice(deps.limits.maxIncludes));
  entries.push(...obligationEntries(obligations));

  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(total !== undefined ? { total } : {}),
    link: pageLinks({
      url: `${trimBase(deps.fhirBase)}/${parsed.resourceType}`,
      params: parsed.linkParams,
      count: parsed.count,
      offset: parsed.offset,
      hasMore: moreMayLeave,
    }),
    entry: entries,
  };
  return bundle;
}

/** Most matches a count over patient data may cover; beyond it the total is left out. */
const MAX_COUNTED = 1000;

/**
 * `_summary=count` / `_count=0` over patient data: the count of matches policy lets leave, each
 * recorded as disclosed (their existence is what the count reveals). Undefined when there are more than
 * MAX_COUNTED, rather than an unrecorded number.
 */
async function countReleased(deps: FhirDeps, ctx: FhirContext, decision: Permit, parsed: ParsedSearch): Promise<number | undefined> {
  const all = await deps.store.search({
    resourceType: parsed.resourceType,
    filters: parsed.filters,
    ...(isNarrowed(decision) ? { narrow: decision.narrow } : {}),
    count: MAX_COUNTED,
    offset: 0,
  });
  if (all.hasMore) return undefined;
  return (await release(deps, ctx, decision, 'search', all.resources)).resources.length;
}

/** A searchset outcome entry telling the client the include set was cut at the limit. */
function truncationNotice(max: number): BundleEntry {
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{
      severity: 'warning',
      code: 'too-costly',
      details: { coding: [{ system: GW_CODE_SYSTEM, code: 'GW_INCLUDES_TRUNCATED' }], text: `_include/_revinclude results were limited to ${max} resources` },
    }],
  };
  return { resource: outcome as Resource, search: { mode: 'outcome' } };
}
