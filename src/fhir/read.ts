/**
 * read and vread. A resource policy would not release answers 404 exactly like a missing one; a
 * deleted resource answers 410 only when the caller could have seen it, otherwise 404 too.
 *
 * See: https://hl7.org/fhir/R4/http.html#read, https://hl7.org/fhir/R4/http.html#vread
 */
import type { Resource } from '@medplum/fhirtypes';
import { gone, notFound, OutcomeError } from '../core/outcome.js';
import type { FhirContext, FhirDeps, FhirResponse } from './types.js';
import { anyVisible, authorize, logHidden, release } from './disclose.js';
import { versionHeaders } from './response.js';
import { invalidParamValue } from './errors.js';
import { subsetResource, type SubsetRequest } from './subset.js';
import type { SummaryMode } from './search-parse.js';

/** How many versions are inspected to decide whether a deleted resource was ever visible to the caller. */
const VISIBILITY_PROBE_VERSIONS = 50;

/**
 * Maps the store's not-found/gone for `type/id` to what this caller may learn: 404 (never existed or
 * never visible to them) or 410 (deleted, and they could see it). Other errors pass through.
 */
export async function hiddenOrGone(deps: FhirDeps, ctx: FhirContext, type: string, id: string, err: unknown): Promise<never> {
  const ref = `${type}/${id}`;
  if (!(err instanceof OutcomeError)) throw err;
  if (err.status === 404) throw notFound(ref);
  if (err.status === 410) {
    if (await everVisible(deps, ctx, type, id)) throw gone(ref);
    throw notFound(ref);
  }
  throw err;
}

/** Whether any recent version of `type/id` would pass policy for this caller. */
export async function everVisible(deps: FhirDeps, ctx: FhirContext, type: string, id: string): Promise<boolean> {
  try {
    const { entries } = await deps.store.history(type, id, { count: VISIBILITY_PROBE_VERSIONS, offset: 0 });
    return await anyVisible(deps, ctx, entries.flatMap((e) => (e.resource ? [e.resource] : [])));
  } catch (err) {
    if (err instanceof OutcomeError && (err.status === 404 || err.status === 410)) return false;
    throw err;
  }
}

/** `_summary` / `_elements` on read and vread (other parameters are ignored, as FHIR allows). */
export function parseReadShaping(params: ReadonlyArray<readonly [string, string]>): SubsetRequest {
  const out: { summary?: SummaryMode; elements?: string[] } = {};
  for (const [name, value] of params) {
    if (name === '_summary') {
      if (!['true', 'false', 'text', 'data'].includes(value)) throw invalidParamValue('_summary', 'must be true, false, text or data');
      out.summary = value as SummaryMode;
    } else if (name === '_elements') {
      out.elements = value.split(',').map((s) => s.trim()).filter((s) => /^[a-z][A-Za-z0-9]{0,63}$/.test(s));
    }
  }
  return out;
}

/** `GET [base]/[type]/[id]`: the current version, if policy releases it. */
export async function readResource(
  deps: FhirDeps,
  ctx: FhirContext,
  type: string,
  id: string,
  params: ReadonlyArray<readonly [string, string]>,
): Promise<FhirResponse> {
  const shaping = parseReadShaping(params);
  const decision = authorize(deps, ctx, { interaction: 'read', resourceType: type, id });
  let found: Resource;
  try {
    found = await deps.store.read(type, id);
  } catch (err) {
    return hiddenOrGone(deps, ctx, type, id, err);
  }
  const [visible] = (await release(deps, ctx, decision, 'read', [found])).resources;
  if (!visible) {
    logHidden(deps, ctx, 'read', type);
    throw notFound(`${type}/${id}`);
  }
  return { status: 200, body: subsetResource(visible, shaping), headers: versionHeaders(visible) };
}

/** `GET [base]/[type]/[id]/_history/[vid]`: one version, if policy releases that version. */
export async function vreadResource(
  deps: FhirDeps,
  ctx: FhirContext,
  type: string,
  id: string,
  versionId: string,
  params: ReadonlyArray<readonly [string, string]>,
): Promise<FhirResponse> {
  const shaping = parseReadShaping(params);
  const decision = authorize(deps, ctx, { interaction: 'vread', resourceType: type, id });
  let found: Resource;
  try {
    found = await deps.store.vread(type, id, versionId);
  } catch (err) {
    if (err instanceof OutcomeError && err.status === 404) {
      // Unknown version of a visible resource, or anything about a hidden one: the same 404.
      throw notFound(`${type}/${id}/_history/${versionId}`);
    }
    if (err instanceof OutcomeError && err.status === 410 && !(await everVisible(deps, ctx, type, id))) {
      throw notFound(`${type}/${id}/_history/${versionId}`);
    }
    throw err instanceof OutcomeError && err.status === 410 ? gone(`${type}/${id}/_history/${versionId}`) : err;
  }
  const [visible] = (await release(deps, ctx, decision, 'vread', [found])).resources;
  if (!visible) {
    logHidden(deps, ctx, 'vread', type);
    throw notFound(`${type}/${id}/_history/${versionId}`);
  }
  return { status: 200, body: subsetResource(visible, shaping), headers: versionHeaders(visible) };
}
