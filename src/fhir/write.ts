/**
 * create, update and delete for internal systems. Writes are authorized before they run: policy.decide
 * for the interaction, then policy.mayWrite on the pre-image (what is there now) and the post-image
 * (what would be stored), so a write can neither reach into nor move data into a compartment the
 * caller may not write (catalogue F-17). Server-owned fields (id on create, meta.versionId,
 * meta.lastUpdated) are never taken from the client (F-16). Every resource is validated first.
 *
 * See: https://hl7.org/fhir/R4/http.html#create, #update, #delete, #concurrency, #cond-create, #ops (Prefer)
 */
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { GW_CODE_SYSTEM, notFound, OutcomeError, type OutcomeIssue } from '../core/outcome.js';
import { assertValid } from '../mapping/validate.js';
import type { ResourceStore } from '../store/types.js';
import type { FhirContext, FhirDeps, FhirResponse } from './types.js';
import type { ResourceCatalogue } from './resource-catalogue.js';
import { anyVisible, authorize, isNarrowed, recordScreened, screen } from './disclose.js';
import { idMismatch, invalidBody, invalidIfMatch, multipleMatches, writeForbidden } from './errors.js';
import { parsePrefer, type ReturnPreference } from './prefer.js';
import { parseIfMatch, versionHeaders, versionUrl } from './response.js';
import { parseSearch } from './search-parse.js';

/** Checks the body is a `type` resource and returns a copy without server-owned fields. */
export function sanitizeIncoming(body: unknown, type: string, mode: 'create' | 'update', urlId?: string, where = 'the body'): Resource {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidBody(`${where} must be a FHIR resource (a JSON object)`);
  const r = structuredClone(body) as Resource & Record<string, unknown>;
  if (r.resourceType !== type) throw invalidBody(`${where} must be a ${type} resource`);
  if (mode === 'update') {
    if (r.id !== urlId) throw idMismatch();
  } else {
    delete r.id; // create: the server assigns the id (FHIR ignores one in the body)
  }
  if (r.meta && typeof r.meta === 'object') {
    // Server-owned: versionId and lastUpdated. profile, security and tag are kept as sent.
    const { versionId: _v, lastUpdated: _l, ...rest } = r.meta;
    if (Object.keys(rest).length) r.meta = rest;
    else delete r.meta;
  }
  return r;
}

/** The version an If-Match header names, or 400 when it is malformed. */
export function ifMatchVersion(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const v = parseIfMatch(header);
  if (v === undefined) throw invalidIfMatch();
  return v;
}

/**
 * Conditional create: the resources matching `criteria` (a query string) that this caller may see.
 * Only the matched resource's location leaves (no content), but that a resource matches caller-chosen
 * criteria is itself information about a patient, so a match is recorded as a search disclosure. The
 * match set is narrowed and filtered by policy, so hidden resources neither match nor block a create.
 * See: https://hl7.org/fhir/R4/http.html#ccreate
 */
export async function findConditionalMatches(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  store: ResourceStore,
  ctx: FhirContext,
  type: string,
  criteria: string,
): Promise<ConditionalMatches> {
  const params = [...new URLSearchParams(criteria.startsWith('?') ? criteria.slice(1) : criteria)];
  if (!params.length) throw invalidBody('If-None-Exist needs search criteria');
  const parsed = parseSearch(catalogue, type, params, { strict: true, limits: { defaultCount: 2, maxCount: 2 }, fhirBase: deps.fhirBase });
  if (!parsed.filters.length) throw invalidBody('If-None-Exist needs at least one search criterion');
  const decision = authorize(deps, ctx, { interaction: 'search', resourceType: type, ...(parsed.patients.length ? { patients: parsed.patients } : {}) });
  const narrowed = isNarrowed(decision);
  const result = await store.search({
    resourceType: type, filters: parsed.filters, ...(narrowed ? { narrow: decision.narrow } : {}), count: 2, offset: 0,
  });
  const screened = await screen(deps, ctx, 'search', result.resources);
  return {
    resources: screened.resources,
    // Only the one match a response names is revealed; more than one is refused (412) and reveals none.
    recordRevealed: () => recordScreened(deps, ctx, decision, 'search', screened),
  };
}

/**
 * What a conditional create found, screened by policy but not yet recorded: the search runs inside the write
 * transaction, and a disclosure is recorded only once that transaction has ended (recordRevealed), before the
 * response that names the match leaves.
 */
export interface ConditionalMatches {
  resources: Resource[];
  recordRevealed: () => Promise<void>;
}

/** Authorizes and stores a new resource (already sanitized and validated) with an optional chosen id. */
export async function storeCreate(deps: FhirDeps, store: ResourceStore, ctx: FhirContext, resource: Resource, id?: string): Promise<Resource> {
  if (!deps.policy.mayWrite(ctx.principal, 'create', id ? { ...resource, id } : resource)) throw writeForbidden('create');
  return store.create(resource, id ? { id } : undefined);
}

/**
 * Authorizes and stores a new version: pre-image and post-image must both be writable. A resource
 * that does not exist (or was deleted) is created, which needs create permission as well.
 */
export async function storeUpdate(
  deps: FhirDeps,
  store: ResourceStore,
  ctx: FhirContext,
  resource: Resource,
  ifMatch?: string,
): Promise<{ resource: Resource; created: boolean }> {
  const pre = await currentOrUndefined(store, resource.resourceType, resource.id as string);
  if (pre) {
    if (!deps.policy.mayWrite(ctx.principal, 'update', pre) || !deps.policy.mayWrite(ctx.principal, 'update', resource)) {
      throw writeForbidden('update');
    }
  } else {
    authorize(deps, ctx, { interaction: 'create', resourceType: resource.resourceType });
    if (!deps.policy.mayWrite(ctx.principal, 'create', resource)) throw writeForbidden('create');
  }
  return store.update(resource, ifMatch === undefined ? undefined : { ifMatch });
}

/**
 * Authorizes and records a delete. A resource the caller cannot see answers 404 exactly like a missing
 * one; one it can see but not delete answers 403. Deleting a deleted resource succeeds (idempotent).
 */
export async function storeDelete(
  deps: FhirDeps,
  store: ResourceStore,
  ctx: FhirContext,
  type: string,
  id: string,
  ifMatch?: string,
): Promise<void> {
  let pre: Resource;
  try {
    pre = await store.read(type, id);
  } catch (err) {
    if (err instanceof OutcomeError && err.status === 410) return; // already deleted
    if (err instanceof OutcomeError && err.status === 404) throw notFound(`${type}/${id}`);
    throw err;
  }
  if (!(await anyVisible(deps, ctx, [pre]))) throw notFound(`${type}/${id}`);
  if (!deps.policy.mayWrite(ctx.principal, 'delete', pre)) throw writeForbidden('delete');
  await store.delete(type, id, ifMatch === undefined ? undefined : { ifMatch });
}

async function currentOrUndefined(store: ResourceStore, type: string, id: string): Promise<Resource | undefined> {
  try {
    return await store.read(type, id);
  } catch (err) {
    if (err instanceof OutcomeError && (err.status === 404 || err.status === 410)) return undefined;
    throw err;
  }
}

/** An informational OperationOutcome (plus any validation warnings) for `Prefer: return=OperationOutcome`. */
export function outcomeBody(message: string, warnings: readonly OutcomeIssue[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      { severity: 'information', code: 'informational', details: { coding: [{ system: GW_CODE_SYSTEM, code: 'GW_OK' }], text: message } },
      ...(warnings as OperationOutcome['issue']),
    ],
  };
}

/** The response body for a successful write, per `Prefer: return=` (default: the stored resource). */
export function writeResponseBody(
  pref: ReturnPreference | undefined,
  resource: Resource,
  message: string,
  warnings: readonly OutcomeIssue[],
): Resource | OperationOutcome | undefined {
  if (pref === 'minimal') return undefined;
  if (pref === 'OperationOutcome') return outcomeBody(message, warnings);
  return resource;
}

/** `POST [base]/[type]` (optionally conditional with If-None-Exist). */
export async function createInteraction(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  ctx: FhirContext,
  type: string,
  body: unknown,
  headers: { prefer?: string; ifNoneExist?: string },
): Promise<FhirResponse> {
  const pref = parsePrefer(headers.prefer).return;
  authorize(deps, ctx, { interaction: 'create', resourceType: type });
  const resource = sanitizeIncoming(body, type, 'create');
  const warnings = assertValid(deps.defs, resource);

  const outcome = await deps.store.transaction(async (tx) => {
    if (headers.ifNoneExist !== undefined) {
      const matches = await findConditionalMatches(deps, catalogue, tx, ctx, type, headers.ifNoneExist);
      if (matches.resources.length > 1) throw multipleMatches();
      if (matches.resources[0]) return { existing: matches.resources[0], matches };
    }
    return { saved: await storeCreate(deps, tx, ctx, resource) };
  });
  if (outcome.existing) {
    const existing = outcome.existing;
    await outcome.matches.recordRevealed();
    return {
      status: 200,
      headers: { location: versionUrl(deps.fhirBase, existing), ...versionHeaders(existing) },
      body: outcomeBody('a matching resource exists; nothing was created', []),
    };
  }
  const saved = outcome.saved;
  return {
    status: 201,
    headers: { location: versionUrl(deps.fhirBase, saved), ...versionHeaders(saved) },
    body: writeResponseBody(pref, saved, `created ${type}/${saved.id}`, warnings),
  };
}

/** `PUT [base]/[type]/[id]` (If-Match honoured; creates when the id is new). */
export async function updateInteraction(
  deps: FhirDeps,
  ctx: FhirContext,
  type: string,
  id: string,
  body: unknown,
  headers: { prefer?: string; ifMatch?: string },
): Promise<FhirResponse> {
  const pref = parsePrefer(headers.prefer).return;
  const ifMatch = ifMatchVersion(headers.ifMatch);
  authorize(deps, ctx, { interaction: 'update', resourceType: type, id });
  const resource = sanitizeIncoming(body, type, 'update', id);
  const warnings = assertValid(deps.defs, resource);
  const { resource: saved, created } = await deps.store.transaction((tx) => storeUpdate(deps, tx, ctx, resource, ifMatch));
  return {
    status: created ? 201 : 200,
    headers: { ...(created ? { location: versionUrl(deps.fhirBase, saved) } : { 'content-location': versionUrl(deps.fhirBase, saved) }), ...versionHeaders(saved) },
    body: writeResponseBody(pref, saved, `${created ? 'created' : 'updated'} ${type}/${id}`, warnings),
  };
}

/** `DELETE [base]/[type]/[id]`. */
export async function deleteInteraction(
  deps: FhirDeps,
  ctx: FhirContext,
  type: string,
  id: string,
  headers: { ifMatch?: string },
): Promise<FhirResponse> {
  const ifMatch = ifMatchVersion(headers.ifMatch);
  authorize(deps, ctx, { interaction: 'delete', resourceType: type, id });
  await deps.store.transaction((tx) => storeDelete(deps, tx, ctx, type, id, ifMatch));
  return { status: 204 };
}
