/**
 * history-instance (`GET [base]/[type]/[id]/_history`): the versions of one resource, newest first,
 * as a history Bundle. Each version passes policy on its own (a resource can move in and out of a
 * compartment); delete entries are shown only when the caller may see the resource at all.
 *
 * See: https://hl7.org/fhir/R4/http.html#history, https://hl7.org/fhir/R4/bundle.html#history
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { notFound } from '../core/outcome.js';
import type { HistoryEntry } from '../store/types.js';
import type { FhirContext, FhirDeps, FhirResponse } from './types.js';
import { authorize, logHidden, obligationEntries, release } from './disclose.js';
import { everVisible, hiddenOrGone } from './read.js';
import { fullUrl, pageLinks, trimBase, weakEtag } from './response.js';
import { invalidParamValue, unknownParam } from './errors.js';
import { isSearchDate } from './search-values.js';
import { MAX_OFFSET } from './search-parse.js';

interface HistoryParams {
  count: number;
  offset: number;
  since?: string;
  linkParams: Array<[string, string]>;
}

/** `_count`, `_offset`, `_since` (an instant); anything else is ignored, or 400 under handling=strict. */
function parseHistoryParams(params: ReadonlyArray<readonly [string, string]>, deps: FhirDeps, strict: boolean): HistoryParams {
  const out: HistoryParams = { count: deps.limits.defaultCount, offset: 0, linkParams: [] };
  for (const [name, value] of params) {
    if (name === '_count' || name === '_offset') {
      if (!/^\d{1,9}$/.test(value)) throw invalidParamValue(name, 'must be a non-negative integer');
      if (name === '_count') out.count = Math.min(Number(value), deps.limits.maxCount);
      else out.offset = Math.min(Number(value), MAX_OFFSET);
    } else if (name === '_since') {
      if (!isInstant(value)) throw invalidParamValue('_since', 'must be an instant (yyyy-mm-ddThh:mm:ss[.sss]Z or with offset)');
      out.since = value;
      out.linkParams.push([name, value]);
    } else if (name !== '_format' && name !== '_pretty' && strict) {
      throw unknownParam(name);
    }
  }
  return out;
}

/** FHIR instant: a full date-time with seconds and a zone. See: https://hl7.org/fhir/R4/datatypes.html#instant */
export const isInstant = (s: string) => /T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && isSearchDate(s);

/** `GET [base]/[type]/[id]/_history`: the versions policy releases, newest first. */
export async function historyInstance(
  deps: FhirDeps,
  ctx: FhirContext,
  type: string,
  id: string,
  params: ReadonlyArray<readonly [string, string]>,
  strict: boolean,
): Promise<FhirResponse> {
  const hp = parseHistoryParams(params, deps, strict);
  const decision = authorize(deps, ctx, { interaction: 'history', resourceType: type, id });
  let page: { entries: HistoryEntry[]; total: number };
  try {
    page = await deps.store.history(type, id, {
      count: hp.count, offset: hp.offset, ...(hp.since ? { since: hp.since } : {}),
    });
  } catch (err) {
    return hiddenOrGone(deps, ctx, type, id, err);
  }

  const versions = page.entries.flatMap((e) => (e.resource ? [e.resource] : []));
  const released = await release(deps, ctx, decision, 'history', versions);
  const byVersion = new Map<string, Resource>(released.resources.map((r) => [r.meta?.versionId ?? '', r]));
  const identityVisible = released.resources.length > 0 || (await everVisible(deps, ctx, type, id));
  if (!identityVisible) {
    logHidden(deps, ctx, 'history', type);
    throw notFound(`${type}/${id}`);
  }

  const entries: BundleEntry[] = [];
  for (const e of page.entries) {
    if (e.method === 'DELETE') {
      entries.push(historyEntry(deps.fhirBase, e));
      continue;
    }
    const r = byVersion.get(e.versionId);
    if (r) entries.push(historyEntry(deps.fhirBase, e, r));
  }

  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'history',
    // A total counts versions on other pages too; it is given only when this page is all there is and
    // nothing on it was held back, so it never counts versions policy hides.
    ...(released.dropped === 0 && hp.offset === 0 && page.entries.length >= page.total ? { total: page.total } : {}),
    link: pageLinks({
      url: `${trimBase(deps.fhirBase)}/${type}/${id}/_history`,
      params: hp.linkParams,
      count: hp.count,
      offset: hp.offset,
      hasMore: hp.offset + page.entries.length < page.total,
    }),
    entry: [...entries, ...obligationEntries(released.obligations)],
  };
  return { status: 200, body: bundle };
}

function historyEntry(fhirBase: string, e: HistoryEntry, resource?: Resource): BundleEntry {
  const ref = { resourceType: e.resourceType, id: e.id };
  const status = e.method === 'POST' ? '201 Created' : e.method === 'PUT' ? '200 OK' : '204 No Content';
  return {
    fullUrl: fullUrl(fhirBase, ref),
    ...(resource ? { resource } : {}),
    request: { method: e.method, url: e.method === 'POST' ? e.resourceType : `${e.resourceType}/${e.id}` },
    response: { status, etag: weakEtag(e.versionId), lastModified: e.lastUpdated },
  };
}
