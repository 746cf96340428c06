/**
 * transaction and batch (`POST [base]` with a Bundle).
 *
 * transaction: all or nothing. Every entry is checked, authorized and validated before the store is
 * touched; then, inside one store transaction, conditional creates are resolved, POST entries get
 * their ids, every reference to an entry's `urn:uuid:` fullUrl (anywhere in any resource) is rewritten
 * to `Type/id`, and DELETE, POST, PUT run in the order FHIR prescribes, each through policy.mayWrite
 * on the pre- and post-image. Any failure rolls everything back. GET entries are refused in a
 * transaction (they would have to read uncommitted state); use a batch.
 *
 * batch: each entry is an independent request through the same handler as a direct call (so GET
 * entries go through policy and the disclosure log), with its own status or OperationOutcome.
 *
 * See: https://hl7.org/fhir/R4/http.html#transaction, https://hl7.org/fhir/R4/bundle.html#references
 */
import type { Bundle, BundleEntry, BundleEntryResponse, OperationOutcome as FhirOperationOutcome, Resource } from '@medplum/fhirtypes';
import { newId } from '../core/ids.js';
import { GW_CODE_SYSTEM, OutcomeError } from '../core/outcome.js';
import { combinedError, validateForIngest } from '../mapping/validate.js';
import type { FhirContext, FhirDeps, FhirRequest, FhirResponse } from './types.js';
import type { ResourceCatalogue } from './resource-catalogue.js';
import { authorize } from './disclose.js';
import { bundleTooLarge, echo, invalidBody, multipleMatches, unsupported } from './errors.js';
import { parsePrefer, type ReturnPreference } from './prefer.js';
import { collectReferenceStrings } from '../core/reference-strings.js';
import { referenceSlots } from './references.js';
import { routeRequest, type Route } from './router.js';
import { fullUrl, trimBase, versionHeaders, versionUrl } from './response.js';
import {
  findConditionalMatches, ifMatchVersion, outcomeBody, sanitizeIncoming, storeCreate, storeDelete, storeUpdate,
} from './write.js';

/** Handles one non-Bundle request (batch entries are dispatched through it). */
export type EntryDispatcher = (req: FhirRequest, ctx: FhirContext) => Promise<FhirResponse>;

export interface BundleOptions {
  /** `Prefer` header of the request (return= applies to every entry; default minimal). */
  prefer?: string;
}

const REASON: Readonly<Record<number, string>> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 410: 'Gone', 412: 'Precondition Failed',
  413: 'Payload Too Large', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 503: 'Service Unavailable',
};
const statusLine = (status: number) => `${status}${REASON[status] ? ` ${REASON[status]}` : ''}`;

interface EntryRequest {
  index: number;
  method: FhirRequest['method'];
  route: Route;
  params: Array<[string, string]>;
  fullUrl?: string;
  resource?: unknown;
  ifMatch?: string;
  ifNoneExist?: string;
}

/**
 * Processes a transaction or batch Bundle and returns the response Bundle. Exported for `fxg import`
 * (called with an internal principal: writes still go through policy, there is no bypass).
 */
export async function processBundle(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  ctx: FhirContext,
  body: unknown,
  dispatch: EntryDispatcher,
  opts: BundleOptions = {},
): Promise<Bundle> {
  const bundle = body as Partial<Bundle> | undefined;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') throw invalidBody('POST to the base needs a Bundle');
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') throw invalidBody('Bundle.type must be transaction or batch');
  const entries = bundle.entry ?? [];
  if (!Array.isArray(entries)) throw invalidBody('Bundle.entry must be an array');
  if (entries.length > deps.limits.maxBundleEntries) throw bundleTooLarge(deps.limits.maxBundleEntries);
  const pref = parsePrefer(opts.prefer).return ?? 'minimal';
  return bundle.type === 'transaction'
    ? runTransaction(deps, catalogue, ctx, entries, pref)
    : runBatch(deps, catalogue, ctx, entries, dispatch, pref, opts.prefer);
}

// ---------------------------------------------------------------- entry parsing

/** Checks one entry's request part and routes its URL; throws 400/404/405 as a direct request would. */
function parseEntry(deps: FhirDeps, catalogue: ResourceCatalogue, entry: BundleEntry, index: number): EntryRequest {
  const at = `Bundle.entry[${index}]`;
  if (!entry || typeof entry !== 'object') throw invalidBody(`${at} must be an object`);
  const req = entry.request;
  if (!req || typeof req.url !== 'string' || typeof req.method !== 'string') throw invalidBody(`${at}.request needs method and url`);
  const method = req.method as string;
  if (method !== 'GET' && method !== 'POST' && method !== 'PUT' && method !== 'DELETE') {
    throw unsupported(`${at}.request.method ${echo(method)}`);
  }
  const resource = entry.resource as unknown;
  if (resource !== undefined && resource !== null && typeof resource === 'object' && containsBundle(resource)) {
    throw invalidBody(`${at}.resource: Bundles cannot be nested in a Bundle`);
  }
  if ((method === 'POST' || method === 'PUT') && (!resource || typeof resource !== 'object')) {
    throw invalidBody(`${at}.resource is required for ${method}`);
  }
  const base = `${trimBase(deps.fhirBase)}/`;
  const url = req.url.startsWith(base) ? req.url.slice(base.length) : req.url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) throw invalidBody(`${at}.request.url must be relative to this server`);
  const [path = '', query] = url.split('?', 2) as [string, string | undefined];
  const params = query === undefined ? [] : [...new URLSearchParams(query)];
  let segments: string[];
  try {
    segments = path.replace(/^\/+|\/+$/g, '').split('/').filter((s, _i, all) => !(s === '' && all.length === 1)).map(decodeURIComponent);
  } catch {
    throw invalidBody(`${at}.request.url is not a valid URL`);
  }
  if ((method === 'PUT' || method === 'DELETE') && query !== undefined) throw unsupported(`conditional ${method.toLowerCase()} (${at})`);
  const route = routeRequest({ method, segments }, catalogue);
  if (route.kind === 'bundle' || route.kind === 'metadata') throw invalidBody(`${at} cannot be a nested Bundle or metadata request`);
  return {
    index, method, route, params,
    ...(typeof entry.fullUrl === 'string' ? { fullUrl: entry.fullUrl } : {}),
    ...(resource !== undefined ? { resource } : {}),
    ...(typeof req.ifMatch === 'string' ? { ifMatch: req.ifMatch } : {}),
    ...(typeof req.ifNoneExist === 'string' ? { ifNoneExist: req.ifNoneExist } : {}),
  };
}

/** A Bundle as the resource or among its contained resources (nesting cap: 1). */
function containsBundle(resource: object): boolean {
  const r = resource as { resourceType?: unknown; contained?: unknown };
  if (r.resourceType === 'Bundle') return true;
  return Array.isArray(r.contained) && r.contained.some((c) => c && typeof c === 'object' && (c as { resourceType?: unknown }).resourceType === 'Bundle');
}

/** Re-raises an entry's error with the entry's location, keeping status and code. */
function atEntry(err: unknown, index: number): unknown {
  if (!(err instanceof OutcomeError)) return err;
  if (err.extraIssues?.length) return err;
  const issue = err.toOutcome().issue[0];
  return new OutcomeError(err.status, err.issue, err.code, `Bundle.entry[${index}]: ${err.message}`, {
    cause: err,
    headers: err.headers,
    issues: [{
      severity: 'error',
      code: err.issue,
      details: { coding: [{ system: GW_CODE_SYSTEM, code: err.code }], text: issue?.details?.text ?? err.message },
      expression: [`Bundle.entry[${index}]`],
    }],
  });
}

// ---------------------------------------------------------------- transaction

interface PlannedWrite {
  req: EntryRequest;
  kind: 'create' | 'update' | 'delete';
  type: string;
  id?: string;
  resource?: Resource;
}

async function runTransaction(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  ctx: FhirContext,
  entries: BundleEntry[],
  pref: ReturnPreference,
): Promise<Bundle> {
  // 1. Check and authorize every entry before anything is written.
  const plan: PlannedWrite[] = [];
  for (const [index, entry] of entries.entries()) {
    try {
      const req = parseEntry(deps, catalogue, entry, index);
      const where = `Bundle.entry[${index}].resource`;
      const r = req.route;
      if (req.method === 'GET') throw unsupported('GET entries in a transaction (use a batch)');
      if (r.kind === 'create') {
        authorize(deps, ctx, { interaction: 'create', resourceType: r.type });
        const resource = sanitizeIncoming(req.resource, r.type, 'create', undefined, where);
        plan.push({ req, kind: 'create', type: r.type, resource });
      } else if (r.kind === 'update') {
        authorize(deps, ctx, { interaction: 'update', resourceType: r.type, id: r.id });
        const resource = sanitizeIncoming(req.resource, r.type, 'update', r.id, where);
        ifMatchVersion(req.ifMatch);
        plan.push({ req, kind: 'update', type: r.type, id: r.id, resource });
      } else if (r.kind === 'delete') {
        authorize(deps, ctx, { interaction: 'delete', resourceType: r.type, id: r.id });
        ifMatchVersion(req.ifMatch);
        plan.push({ req, kind: 'delete', type: r.type, id: r.id });
      } else {
        throw invalidBody(`Bundle.entry[${index}]: ${req.method} ${r.kind} is not a transaction write`);
      }
    } catch (err) {
      throw atEntry(err, index);
    }
  }

  // 2. Validate what will be stored: references to other entries' fullUrls are already `Type/id` (the id a
  // placeholder until the write assigns it), so a reference is checked against the type of the entry it names,
  // not reported as a urn:uuid of no type.
  // Every entry's fullUrl names what the entry writes (a delete's too); two entries may not share one.
  const typeOf = new Map<string, string>();
  for (const w of plan) {
    if (!w.req.fullUrl) continue;
    if (typeOf.has(w.req.fullUrl)) {
      throw atEntry(invalidBody(`fullUrl ${w.req.fullUrl} is used by more than one entry: references to it would be ambiguous`), w.req.index);
    }
    typeOf.set(w.req.fullUrl, w.type);
  }
  const fullUrls = new Set(typeOf.keys());
  const writes = plan.filter((w) => w.kind !== 'delete');
  const slots = fullUrls.size ? writes.flatMap((w) => referenceSlots(w.resource, fullUrls)) : [];
  for (const s of slots) s.holder.reference = `${typeOf.get(s.fullUrl)}/bundle-entry`;
  const reports = writes.map((w) => validateForIngest(deps.defs, w.resource as Resource, { location: `Bundle.entry[${w.req.index}].resource` }));
  const invalid = combinedError(reports);
  if (invalid) throw invalid;
  assertUniqueTargets(plan);

  // 2. Apply atomically.
  // Conditional creates that found their resource: recorded as disclosed once the transaction has committed
  // (a rolled-back transaction reveals nothing), before the response names them.
  const revealed: Array<() => Promise<void>> = [];
  const responses = await deps.store.transaction(async (tx) => {
    const out = new Map<number, BundleEntry>();
    const idMap = new Map<string, string>();
    revealed.length = 0;

    for (const w of plan) {
      if (w.kind !== 'create' || w.req.ifNoneExist === undefined) continue;
      try {
        const matches = await findConditionalMatches(deps, catalogue, tx, ctx, w.type, w.req.ifNoneExist);
        if (matches.resources.length > 1) throw multipleMatches();
        const existing = matches.resources[0];
        if (existing) {
          revealed.push(matches.recordRevealed);
          w.id = existing.id as string;
          out.set(w.req.index, { response: { status: statusLine(200), location: versionUrl(deps.fhirBase, existing), ...etagOf(existing) } });
        }
      } catch (err) {
        throw atEntry(err, w.req.index);
      }
    }
    for (const w of plan) {
      if (w.kind === 'create' && !w.id) w.id = newId();
      if (w.req.fullUrl && w.id) idMap.set(w.req.fullUrl, `${w.type}/${w.id}`);
    }
    for (const s of slots) s.holder.reference = idMap.get(s.fullUrl) ?? s.fullUrl;

    const order: Array<PlannedWrite['kind']> = ['delete', 'create', 'update'];
    for (const kind of order) {
      for (const w of plan) {
        if (w.kind !== kind || out.has(w.req.index)) continue;
        try {
          out.set(w.req.index, await applyWrite(deps, tx, ctx, w, pref));
        } catch (err) {
          throw atEntry(err, w.req.index);
        }
      }
    }
    return out;
  });
  try {
    for (const record of revealed) await record();
  } catch (err) {
    // The writes are committed; only the response, which names existing resources, is withheld. Saying
    // "nothing was sent; retry" here would make the sender resubmit and duplicate its unconditional creates.
    if (!(err instanceof OutcomeError) || err.status !== 503) throw err;
    throw new OutcomeError(503, 'transient', 'GW_AUDIT_UNAVAILABLE',
      'the transaction was committed, but its response names existing resources and their disclosure could not be ' +
      'recorded, so the response is withheld: do not resubmit the transaction; read its results back once the service recovers',
      { cause: err, headers: { 'retry-after': '1' } });
  }

  return {
    resourceType: 'Bundle',
    type: 'transaction-response',
    entry: entries.map((_, i) => responses.get(i) as BundleEntry),
  };
}

/** Two entries writing the same `Type/id` make the outcome order-dependent: FHIR says fail. */
function assertUniqueTargets(plan: readonly PlannedWrite[]): void {
  const seen = new Set<string>();
  for (const w of plan) {
    if (!w.id) continue;
    const key = `${w.type}/${w.id}`;
    if (seen.has(key)) throw atEntry(invalidBody(`more than one entry writes ${key}`), w.req.index);
    seen.add(key);
  }
}

async function applyWrite(
  deps: FhirDeps,
  tx: FhirDeps['store'],
  ctx: FhirContext,
  w: PlannedWrite,
  pref: ReturnPreference,
): Promise<BundleEntry> {
  const ifMatch = ifMatchVersion(w.req.ifMatch);
  if (w.kind === 'delete') {
    await storeDelete(deps, tx, ctx, w.type, w.id as string, ifMatch);
    return { response: { status: statusLine(204) } };
  }
  if (w.kind === 'create') {
    const saved = await storeCreate(deps, tx, ctx, w.resource as Resource, w.id);
    return writtenEntry(deps, saved, 201, pref, `created ${saved.resourceType}/${saved.id}`);
  }
  const { resource: saved, created } = await storeUpdate(deps, tx, ctx, w.resource as Resource, ifMatch);
  return writtenEntry(deps, saved, created ? 201 : 200, pref, `${created ? 'created' : 'updated'} ${saved.resourceType}/${saved.id}`);
}

function etagOf(r: Resource): Pick<BundleEntryResponse, 'etag' | 'lastModified'> {
  const h = versionHeaders(r);
  return { ...(h.etag ? { etag: h.etag } : {}), ...(r.meta?.lastUpdated ? { lastModified: r.meta.lastUpdated } : {}) };
}

function writtenEntry(deps: FhirDeps, saved: Resource, status: number, pref: ReturnPreference, message: string): BundleEntry {
  return {
    fullUrl: fullUrl(deps.fhirBase, saved),
    ...(pref === 'representation' ? { resource: saved } : {}),
    response: {
      status: statusLine(status),
      location: versionUrl(deps.fhirBase, saved),
      ...etagOf(saved),
      ...(pref === 'OperationOutcome' ? { outcome: outcomeBody(message, []) } : {}),
    },
  };
}

// ---------------------------------------------------------------- batch

async function runBatch(
  deps: FhirDeps,
  catalogue: ResourceCatalogue,
  ctx: FhirContext,
  entries: BundleEntry[],
  dispatch: EntryDispatcher,
  pref: ReturnPreference,
  prefer: string | undefined,
): Promise<Bundle> {
  const fullUrls = new Set(entries.flatMap((e) => (e && typeof e.fullUrl === 'string' ? [e.fullUrl] : [])));
  const out: BundleEntry[] = [];
  for (const [index, entry] of entries.entries()) {
    try {
      const req = parseEntry(deps, catalogue, entry, index);
      if (req.resource !== undefined && collectReferenceStrings(req.resource).some((ref) => fullUrls.has(ref))) {
        throw invalidBody('batch entries cannot reference each other (use a transaction)');
      }
      const res = await dispatch({
        method: req.method,
        segments: segmentsOf(req.route),
        params: req.params,
        ...(req.resource !== undefined ? { body: req.resource } : {}),
        headers: {
          ...(req.ifMatch !== undefined ? { ifMatch: req.ifMatch } : {}),
          ...(req.ifNoneExist !== undefined ? { ifNoneExist: req.ifNoneExist } : {}),
          prefer: `return=${pref}${prefer && /handling\s*=\s*strict/i.test(prefer) ? ', handling=strict' : ''}`,
        },
      }, ctx);
      out.push(batchEntry(res));
    } catch (err) {
      out.push(failedEntry(deps, ctx, atEntry(err, index), index));
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: out };
}

function segmentsOf(route: Route): string[] {
  switch (route.kind) {
    case 'search':
    case 'create':
      return [route.type];
    case 'read':
    case 'update':
    case 'delete':
      return [route.type, route.id];
    case 'history':
      return [route.type, route.id, '_history'];
    case 'vread':
      return [route.type, route.id, '_history', route.versionId];
    case 'everything':
      return ['Patient', route.id, '$everything'];
    default:
      return [];
  }
}

function batchEntry(res: FhirResponse): BundleEntry {
  const h = res.headers ?? {};
  const body = res.body as Resource | undefined;
  const outcome = body?.resourceType === 'OperationOutcome' ? (body as FhirOperationOutcome) : undefined;
  return {
    ...(body && !outcome ? { resource: body } : {}),
    response: {
      status: statusLine(res.status),
      ...(h.location ? { location: h.location } : {}),
      ...(h.etag ? { etag: h.etag } : {}),
      ...(h['last-modified'] ? { lastModified: new Date(h['last-modified']).toISOString() } : {}),
      ...(outcome ? { outcome } : {}),
    },
  };
}

function failedEntry(deps: FhirDeps, ctx: FhirContext, err: unknown, index: number): BundleEntry {
  const e = err instanceof OutcomeError
    ? err
    : new OutcomeError(500, 'exception', 'GW_INTERNAL', 'internal error', { cause: err });
  if (!e.expose || e.status >= 500) deps.log.error({ requestId: ctx.requestId, entry: index, err: String(err) }, 'bundle.entry_failed');
  const outcome = e.toOutcome(ctx.requestId) as FhirOperationOutcome;
  return { response: { status: statusLine(e.status), outcome } };
}
